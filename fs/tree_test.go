package fs

import (
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"tpmfs/tpmcore"
)

func TestTreeFixedNodes(t *testing.T) {
	f := mountFake(t)
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "ak ek info nv pcrs random seal status tpmrm0" {
		t.Errorf("root lists %q", got)
	}
	info, err := os.ReadFile(f.path("info"))
	if err != nil || !strings.Contains(string(info), "manufacturer: FAKE\n") || !strings.Contains(string(info), "banks: sha1 sha256\n") {
		t.Errorf("info = %q, %v", info, err)
	}
	if fi, _ := os.Stat(f.path("info")); fi.Size() != int64(len(info)) || fi.Mode().Perm() != 0o444 {
		t.Errorf("info stat: %v", fi)
	}
	_, err = os.OpenFile(f.path("info"), os.O_WRONLY, 0)
	wantErrno(t, "open info for writing", err, syscall.EACCES)

	b := make([]byte, 4096)
	r, err := os.Open(f.path("random"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if n, err := r.Read(b); n != len(b) || err != nil {
			t.Fatalf("random read: %d, %v", n, err)
		}
	}
	r.Close()
	if c := strings.Count(string(b), "\x00"); c > 64 {
		t.Errorf("random has %d zero bytes in 4096", c)
	}
	_, err = os.OpenFile(f.path("random"), os.O_WRONLY, 0)
	wantErrno(t, "open random for writing", err, syscall.EACCES)
}

// TestTreeWithoutAttestation: a backend without EK, NV and attestation
// keys (a TPM 1.2) has no ek/, ak/ or nv/.
func TestTreeWithoutAttestation(t *testing.T) {
	f := mountFakeWith(t, func(b *Backend) { b.EK, b.NV, b.AKs = nil, nil, nil })
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "info pcrs random seal status tpmrm0" {
		t.Errorf("root lists %q", got)
	}
	for _, d := range []string{"ek", "ak", "nv"} {
		_, err := os.Stat(f.path(d))
		wantErrno(t, "stat "+d, err, syscall.ENOENT)
	}
}

// TestTreeNotRemovable: unlink, rmdir and rename of fixed nodes and of an
// object's files are EPERM, and the nodes stay.
func TestTreeNotRemovable(t *testing.T) {
	f := mountFake(t)
	if err := os.Mkdir(f.path("seal/k"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"info", "random", "tpmrm0", "pcrs/00", "pcrs/sha256/07", "seal/k/data", "seal/k/pcrs", "seal/k/policy"} {
		wantErrno(t, "unlink "+p, os.Remove(f.path(p)), syscall.EPERM)
		wantErrno(t, "rename "+p, os.Rename(f.path(p), f.path(p)+"2"), syscall.EPERM)
	}
	for _, p := range []string{"pcrs", "pcrs/sha1", "seal"} {
		wantErrno(t, "rmdir "+p, syscall.Rmdir(f.path(p)), syscall.EPERM)
	}
	wantErrno(t, "rename seal/k", os.Rename(f.path("seal/k"), f.path("seal/k2")), syscall.EPERM)
	for _, p := range []string{"info", "random", "tpmrm0", "pcrs/00", "pcrs/sha1/23", "seal/k/data", "seal/k/pcrs", "seal/k/policy"} {
		if _, err := os.Stat(f.path(p)); err != nil {
			t.Errorf("%s after removal attempts: %v", p, err)
		}
	}
	// chmod and chown of fixed nodes and object files: EPERM.
	for _, p := range []string{".", "info", "pcrs", "pcrs/sha256", "pcrs/01", "seal", "tpmrm0", "seal/k/data"} {
		wantErrno(t, "chmod "+p, os.Chmod(f.path(p), 0o777), syscall.EPERM)
		wantErrno(t, "chown "+p, os.Chown(f.path(p), 1, 1), syscall.EPERM)
	}
	wantErrno(t, "truncate info to 3", os.Truncate(f.path("info"), 3), syscall.EINVAL)
	if !strings.Contains(f.log.String(), "use the mount option pcr_mode=") {
		t.Errorf("log does not name the option to use:\n%s", f.log)
	}
}

func TestTreeReadOnly(t *testing.T) {
	f := mountFake(t, readOnly)
	for _, p := range []string{"pcrs/16", "pcrs/sha256/16", "tpmrm0", "random"} {
		_, err := os.OpenFile(f.path(p), os.O_WRONLY, 0)
		wantErrno(t, "open "+p+" for writing", err, syscall.EROFS)
	}
	wantErrno(t, "mkdir seal/x", os.Mkdir(f.path("seal/x"), 0o700), syscall.EROFS)
	wantErrno(t, "unlink info", os.Remove(f.path("info")), syscall.EROFS)
	if _, err := os.ReadFile(f.path("pcrs/00")); err != nil {
		t.Errorf("read a PCR on a read-only mount: %v", err)
	}
}

func TestDevice(t *testing.T) {
	f := mountFake(t)
	fd, err := os.OpenFile(f.path("tpmrm0"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := []byte{0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x7b, 0, 8} // GetRandom(8)
	if n, err := fd.Write(cmd); n != len(cmd) || err != nil {
		t.Fatalf("write command: %d, %v", n, err)
	}
	_, err = fd.Write(cmd)
	wantErrno(t, "second write before reading", err, syscall.EBUSY)
	rsp := make([]byte, 64)
	if n, err := fd.Read(rsp); n != 10 || err != nil {
		t.Errorf("read response: %d, %v", n, err)
	}
	_, err = fd.Write(make([]byte, tpmcore.MaxCommand+1))
	wantErrno(t, "oversized command", err, syscall.E2BIG)
	fd.Close()
	waitFor(t, "release of tpmrm0", func() bool { f.raw.mu.Lock(); defer f.raw.mu.Unlock(); return f.raw.closed == 1 })
}
