package sealstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tpmcore/pcrsig"
	"tpmfs/tpmcore/sealing"
)

// randBytes returns n reproducible pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5ea1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sealedRecord is a record with plausible sealed data: secretLen bytes of
// ciphertext, TPM-blob-sized public and private parts, and sealed-to
// values of sha256 PCRs 0 and 7 and sha1 PCR 1.
func sealedRecord(name string, secretLen int, seed uint64) *Record {
	d0 := sha256.Sum256([]byte("pcr0"))
	d7 := sha256.Sum256([]byte("pcr7"))
	d1 := sha1.Sum([]byte("pcr1"))
	sel := "sha1:1+sha256:0,7"
	return &Record{
		Name: name, ID: fmt.Sprintf("%032x", seed+0xabc), UID: 1000 + uint32(seed), GID: 100, Mode: 0o750,
		Selection: sel,
		Created:   time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
		Modified:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Sealed: &sealing.Object{
			Selection: sel,
			PCRValues: []sealing.PCRValue{
				{Bank: "sha256", Index: 0, Digest: d0[:]},
				{Bank: "sha256", Index: 7, Digest: d7[:]},
				{Bank: "sha1", Index: 1, Digest: d1[:]},
			},
			Policy:     randBytes(seed+1, 32),
			Public:     randBytes(seed+2, 90),
			Private:    randBytes(seed+3, 160),
			Nonce:      randBytes(seed+4, 12),
			Ciphertext: randBytes(seed+5, secretLen+16),
		},
	}
}

// signedRecord is a record of version 3's features: a predicted value
// beside a current one, an authkey and two signed policies by it (whose
// signatures sealstore does not check: any bytes do).
func signedRecord(t testing.TB, name string) *Record {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	key, err := pcrsig.KeyFromDER(der)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := pcrsig.Parse([]byte(fmt.Sprintf(`{"sha256":[{"pcrs":[11],"pkfp":"%x","pol":"%x","sig":"AAEC"},`+
		`{"pcrs":[11,12],"pkfp":"%x","pol":"%x","sig":"AwQF"}]}`,
		key.Fingerprint(), randBytes(7, 32), key.Fingerprint(), randBytes(8, 32))))
	if err != nil {
		t.Fatal(err)
	}
	r := sealedRecord(name, 20, 9)
	predicted := randBytes(10, 32)
	r.Selection = fmt.Sprintf("sha1:1+sha256:0,7=%x", predicted)
	r.Sealed.PCRValues[1].Digest = predicted
	r.AuthKey = der
	r.Signatures = sigs
	r.Sealed.AuthKey = der
	r.Sealed.Parent = append([]byte{0, 0x0b}, randBytes(11, 32)...)
	return r
}

// bareRecord is a record created by mkdir, before any data was written.
func bareRecord(name string) *Record {
	return &Record{
		Name: name, ID: fmt.Sprintf("%032x", len(name)), UID: 0, GID: 0, Mode: 0o1777,
		Created:  time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC),
		Modified: time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC),
	}
}

// mountTmpfs mounts a tmpfs of the given size on a fresh temp dir and
// unmounts it in cleanup.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		swtpmtest.SkipOrFail(t, "mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// remountReadOnly makes the tmpfs at dir read-only, for every open file
// of it too; the returned func (also run in cleanup) makes it writable
// again.
func remountReadOnly(t *testing.T, dir string) (undo func()) {
	t.Helper()
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	done := false
	undo = func() {
		if !done {
			done = true
			if err := unix.Mount("", dir, "", unix.MS_REMOUNT, ""); err != nil {
				t.Errorf("remount %s read-write: %v", dir, err)
			}
		}
	}
	t.Cleanup(undo)
	return undo
}

func unmount(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Unmount(dir, 0); err != nil {
		// Busy (a test left a file open): detach so the dir can go.
		if err2 := unix.Unmount(dir, unix.MNT_DETACH); err2 != nil {
			t.Errorf("unmount %s: %v, then %v", dir, err, err2)
		}
	}
}

// tempFiles lists Save's leftovers in dir, found by name pattern written
// out here rather than by isTemp.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tmps []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp") {
			tmps = append(tmps, e.Name())
		}
	}
	return tmps
}

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func objPath(s *Store, name string) string { return filepath.Join(s.Dir(), name+".json") }

func mustSave(t *testing.T, s *Store, r *Record) {
	t.Helper()
	if err := s.Save(r); err != nil {
		t.Fatalf("Save(%s): %v", r.Name, err)
	}
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one wrapping %v", err, target)
	}
}
