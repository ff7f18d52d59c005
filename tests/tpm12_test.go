package tests

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// infoFields reads the info file's "key: value" lines.
func infoFields(t *testing.T, m *mount) map[string]string {
	t.Helper()
	b, err := os.ReadFile(m.Path("info"))
	if err != nil {
		t.Fatal(err)
	}
	return swtpmtest.Fields(b)
}

// composite16 is the digest TPM_Seal binds a blob sealed to PCR 16 to,
// computed here: SHA-1 of TPM_PCR_COMPOSITE, i.e. the selection
// (size 3, bit 16 set), the size of the values (20), PCR 16's value.
func composite16(pcr16Hex string) string {
	v, err := hex.DecodeString(pcr16Hex)
	if err != nil {
		panic(err)
	}
	d := sha1.Sum(append([]byte{0, 3, 0, 0, 1, 0, 0, 0, 20}, v...))
	return hex.EncodeToString(d[:])
}

// TestTPM12Tree is the tree on a TPM 1.2 without an owner: info, the one
// bank, PCR reads, extends and events against SHA-1 computed here, the
// random stream, sealing refused with a clear log line, and tpmrm0 with
// one opener at a time.
func TestTPM12Tree(t *testing.T) {
	tpm := swtpmtest.Start12(t, false)
	m := mountTPM(t, tpm.Source(), "state="+t.TempDir())

	info := infoFields(t, m)
	if info["family"] != "1.2" || info["banks"] != "sha1" || !strings.HasPrefix(info["firmware"], "1.2.") {
		t.Errorf("info = %v, want family 1.2, banks sha1, firmware 1.2.*", info)
	}
	// No EK certificates, attestation keys or NV indices on a TPM 1.2.
	if _, ok := info["ek_certs"]; ok {
		t.Errorf("info names EK certificates: %v", info)
	}
	for _, d := range []string{"ek", "ak", "nv"} {
		if _, err := os.Stat(m.Path(d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/ on a TPM 1.2: %v", d, err)
		}
	}
	ents, err := os.ReadDir(m.Path("pcrs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 25 || !slices.Contains(names, "sha1") || slices.Contains(names, "sha256") {
		t.Errorf("pcrs/ holds %v, want 00-23 and sha1", names)
	}

	// Reads: pcrs/NN is the sha1 bank, and agrees with a TPM_PCRRead sent
	// through tpmrm0.
	for _, i := range []int{0, 10, 16, 23} {
		want := hex.EncodeToString(rawPCRRead(t, m.Path("tpmrm0"), i))
		if got := readPCR(t, m.Path("pcrs", fmt.Sprintf("%02d", i))); got != want {
			t.Errorf("pcrs/%02d = %s, TPM_PCRRead says %s", i, got, want)
		}
		if got := readPCR(t, m.Path("pcrs", "sha1", fmt.Sprintf("%02d", i))); got != want {
			t.Errorf("pcrs/sha1/%02d = %s, TPM_PCRRead says %s", i, got, want)
		}
	}

	// Extend with a digest, then measure an event: SHA-1 rules.
	old := readPCR(t, m.Path("pcrs", "sha1", "16"))
	d := sha1.Sum([]byte("a digest"))
	sh(t, fmt.Sprintf("echo %x > %s", d, m.Path("pcrs", "sha1", "16")))
	want := extended(crypto.SHA1, old, d[:])
	if got := readPCR(t, m.Path("pcrs", "16")); got != want {
		t.Fatalf("after extend: %s, want %s", got, want)
	}
	event := []byte("an event, measured as SHA-1\n")
	if err := writeFile(m.Path("pcrs", "16"), event); err != nil {
		t.Fatal(err)
	}
	want = extended(crypto.SHA1, want, hashOf(crypto.SHA1, event))
	if got := hex.EncodeToString(rawPCRRead(t, m.Path("tpmrm0"), 16)); got != want {
		t.Fatalf("after event: TPM_PCRRead says %s, want %s", got, want)
	}
	// Refusals: a sha256-sized digest, a PCR of another locality.
	if err := writeFile(m.Path("pcrs", "sha1", "16"), []byte(strings.Repeat("ab", 32)+"\n")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("32-byte digest into sha1: %v, want EINVAL", err)
	}
	if err := writeFile(m.Path("pcrs", "17"), []byte("x")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("event into PCR 17: %v, want EPERM", err)
	}

	// random: a stream, fresh on every read.
	a := sh(t, "head -c 100000 "+m.Path("random"))
	b := sh(t, "head -c 100000 "+m.Path("random"))
	if len(a) != 100000 || len(b) != 100000 || a == b || strings.Count(a[:1000], "\x00") > 100 {
		t.Errorf("random: %d and %d bytes, equal %v", len(a), len(b), a == b)
	}

	// Sealing needs an owner: EIO, and the log tells the admin what to do.
	if err := os.Mkdir(m.Path("seal", "s"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(m.Path("seal", "s", "data"), []byte("x")); !errors.Is(err, syscall.EIO) {
		t.Errorf("seal on an unowned TPM: %v, want EIO", err)
	}
	if !m.waitLog("take ownership") || !m.waitLog("tpm_takeownership") {
		t.Errorf("no log line telling to take ownership:\n%s", m.Stderr())
	}

	// tpmrm0: one opener at a time, like /dev/tpm0.
	f, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("second open of tpmrm0: %v, want EBUSY", err)
	}
	f.Close()
	rawPCRRead(t, m.Path("tpmrm0"), 0) // free again once closed
}

// TestTPM12TrouSerS runs TrouSerS' tcsd on tpmfs's tpmrm0: it takes
// ownership, seals and unseals, while tpmfs seals to sha1:16 on the same
// TPM beside it; tpmfs refuses with EACCES once PCR 16 moves, as does
// TrouSerS for its own blob.
func TestTPM12TrouSerS(t *testing.T) {
	require(t, "tpm_version", "tpm_takeownership", "tpm_sealdata", "tpm_unsealdata")
	tpm := swtpmtest.Start12(t, false)
	m := mountTPM(t, tpm.Source(), "state="+t.TempDir())
	d := swtpmtest.StartTcsd(t, swtpmtest.TcsdOptions{Device: m.Path("tpmrm0")})

	// The TSS holds tpmrm0 for its life.
	if _, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("open of tpmrm0 while tcsd has it: %v, want EBUSY", err)
	}
	v := swtpmtest.Fields(d.MustRun(t, nil, "tpm_version"))
	info := infoFields(t, m)
	// tpm_version prints the vendor ID's four bytes, NUL padding too.
	if v["Chip Version"] != info["firmware"] || strings.TrimRight(v["TPM Vendor ID"], "\x00 ") != info["manufacturer"] {
		t.Errorf("tpm_version says chip %q vendor %q; info says firmware %q manufacturer %q",
			v["Chip Version"], v["TPM Vendor ID"], info["firmware"], info["manufacturer"])
	}

	d.MustRun(t, nil, "tpm_takeownership", "-y", "-z")
	blob := d.MustRun(t, []byte("trousers secret"), "tpm_sealdata", "-z", "-p", "16")
	blobFile := t.TempDir() + "/tss.blob"
	if err := os.WriteFile(blobFile, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := d.MustRun(t, nil, "tpm_unsealdata", "-z", "-i", blobFile); string(got) != "trousers secret" {
		t.Fatalf("tpm_unsealdata = %q", got)
	}

	// tpmfs seals to sha1:16 with the well-known SRK secret tcsd set,
	// while TrouSerS unseals beside it.
	if err := os.Mkdir(m.Path("seal", "s"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(m.Path("seal", "s", "pcrs"), []byte("sha1:16\n")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	tssErr := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 3 {
			got, err := d.Run(nil, "tpm_unsealdata", "-z", "-i", blobFile)
			if err == nil && string(got) != "trousers secret" {
				err = fmt.Errorf("tpm_unsealdata = %q", got)
			}
			if err != nil {
				tssErr <- err
				return
			}
		}
	}()
	for i := range 3 {
		secret := []byte(fmt.Sprintf("tpmfs secret %d\n", i))
		if err := writeFile(m.Path("seal", "s", "data"), secret); err != nil {
			t.Fatalf("seal %d beside tcsd: %v", i, err)
		}
		if got, err := os.ReadFile(m.Path("seal", "s", "data")); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("unseal %d beside tcsd: %q, %v", i, got, err)
		}
	}
	wg.Wait()
	close(tssErr)
	for err := range tssErr {
		t.Errorf("TrouSerS beside tpmfs: %v", err)
	}
	pcr16 := readPCR(t, m.Path("pcrs", "sha1", "16"))
	if got := strings.TrimSpace(sh(t, "cat "+m.Path("seal", "s", "policy"))); got != composite16(pcr16) {
		t.Errorf("policy = %s, want the PCR composite digest %s", got, composite16(pcr16))
	}

	// PCR 16 moves: tpmfs refuses with EACCES and logs which PCR
	// differs; TrouSerS refuses its own blob too.
	sh(t, "echo moved > "+m.Path("pcrs", "16"))
	if _, err := os.ReadFile(m.Path("seal", "s", "data")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("unseal after PCR 16 moved: %v, want EACCES", err)
	}
	if !m.waitLogFor(func(log string) bool {
		return strings.Contains(log, "pcrs_differ=\"sha1:16\"") || strings.Contains(log, "pcrs_differ=sha1:16")
	}) {
		t.Errorf("the log does not say sha1:16 differs:\n%s", m.Stderr())
	}
	if _, err := d.Run(nil, "tpm_unsealdata", "-z", "-i", blobFile); err == nil {
		t.Errorf("tpm_unsealdata after PCR 16 moved succeeded")
	}

	// Once tcsd is gone, tpmrm0 opens again: as soon as the kernel has
	// delivered the release of tcsd's open, which it does asynchronously.
	d.Stop(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
		if err == nil {
			f.Close()
			break
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			t.Fatalf("open of tpmrm0 after tcsd exited: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rawPCRRead(t, m.Path("tpmrm0"), 16)
}

// TestTPM12SRKAuthFile: srk_auth=file:PATH is a password, whose SHA-1 is
// the SRK secret (TrouSerS' plain secret mode). swtpm_setup's
// --srk-well-known took ownership with SHA-1 of 20 zero bytes, so a file
// of 20 zero bytes opens it, and the default well-known secret does not.
func TestTPM12SRKAuthFile(t *testing.T) {
	tpm := swtpmtest.Start12(t, true)
	secretFile := t.TempDir() + "/srk"
	if err := os.WriteFile(secretFile, make([]byte, 20), 0o600); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	m := mountTPM(t, tpm.Source(), "state="+state, "srk_auth=file:"+secretFile)
	os.Mkdir(m.Path("seal", "k"), 0o700)
	if err := writeFile(m.Path("seal", "k", "data"), []byte("under a password")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(m.Path("seal", "k", "data")); err != nil || string(got) != "under a password" {
		t.Fatalf("unseal = %q, %v", got, err)
	}
	m.unmount(t)

	m = mountTPM(t, tpm.Source(), "state="+state)
	if _, err := os.ReadFile(m.Path("seal", "k", "data")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("unseal with the well-known secret: %v, want EPERM", err)
	}
}
