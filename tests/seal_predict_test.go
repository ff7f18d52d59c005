package tests

import (
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// statusOf reads seal/NAME/status with cat into its "key: value" lines.
func statusOf(t *testing.T, m *mount, name string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(sh(t, "cat "+m.Path("seal", name, "status"))), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("status line %q is not key: value", l)
		}
		lines[k] = v
	}
	return lines
}

// differing lists the PCRs status says differ, and the line of each.
func differing(st map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range st {
		if strings.HasPrefix(k, "pcr ") && strings.HasPrefix(v, "differs ") {
			out[strings.TrimPrefix(k, "pcr ")] = v
		}
	}
	return out
}

// TestSealPredictedTPM20: data sealed to sha256:16=H, H computed here as
// PCR 16 after two known extends, is refused (EACCES, with the log line
// and status naming sha256:16 with both values) until those extends are
// made through pcrs/sha256/16, then opens; its policy is
// tpm2_createpolicy --policy-pcr -l sha256:16 -f over H, run through the
// mount's tpmrm0; pcrs reads back as written.
func TestSealPredictedTPM20(t *testing.T) {
	require(t, "tpm2_createpolicy")
	tpm := swtpmtest.Start(t)
	m := mountSeal(t, tpm.Source(), t.TempDir())
	os.Mkdir(m.Path("seal", "next"), 0o700)
	old := readPCR(t, m.Path("pcrs", "sha256", "16"))
	d1, d2 := hashOf(crypto.SHA256, []byte("vmlinuz-6.1")), hashOf(crypto.SHA256, []byte("initrd-6.1"))
	h := extended(crypto.SHA256, extended(crypto.SHA256, old, d1), d2)

	sh(t, "echo sha256:16="+strings.ToUpper(h)+" > "+m.Path("seal", "next", "pcrs"))
	if got := sh(t, "cat "+m.Path("seal", "next", "pcrs")); got != "sha256:16="+h+"\n" {
		t.Errorf("pcrs = %q, want sha256:16=%s", got, h)
	}
	sh(t, "echo for the next boot > "+m.Path("seal", "next", "data"))
	_, err := os.ReadFile(m.Path("seal", "next", "data"))
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("unseal before the extends: %v, want EACCES", err)
	}
	if !m.waitLog(`pcrs_differ="sha256:16"`) && !m.waitLog("pcrs_differ=sha256:16") {
		t.Errorf("the log does not name sha256:16:\n%s", m.Stderr())
	}
	st := statusOf(t, m, "next")
	if d := differing(st); len(d) != 1 || d["sha256:16"] != fmt.Sprintf("differs sealed-to=%s current=%s (predicted)", h, old) {
		t.Errorf("status says these PCRs differ: %v; want sha256:16 with sealed-to %s and current %s", d, h, old)
	}

	// The policy, computed by tpm2-tools through the mount's tpmrm0.
	dir := t.TempDir()
	values := filepath.Join(dir, "values")
	os.WriteFile(values, must(hex.DecodeString(h)), 0o600)
	run(t, "tpm2_createpolicy", "-T", "device:"+m.Path("tpmrm0"), "--policy-pcr", "-l", "sha256:16", "-f", values, "-L", filepath.Join(dir, "policy"))
	want := hex.EncodeToString(must(os.ReadFile(filepath.Join(dir, "policy"))))
	if got := strings.TrimSpace(sh(t, "cat "+m.Path("seal", "next", "policy"))); got != want {
		t.Errorf("policy = %s, tpm2_createpolicy -f says %s", got, want)
	}

	for _, d := range [][]byte{d1, d2} {
		sh(t, fmt.Sprintf("echo %x > %s", d, m.Path("pcrs", "sha256", "16")))
	}
	if got := readPCR(t, m.Path("pcrs", "sha256", "16")); got != h {
		t.Fatalf("PCR 16 after the extends = %s, want %s", got, h)
	}
	if got := sh(t, "cat "+m.Path("seal", "next", "data")); got != "for the next boot\n" {
		t.Errorf("unseal after the extends = %q", got)
	}
	if st := statusOf(t, m, "next"); len(differing(st)) != 0 || st["unseal"] != "would succeed now" {
		t.Errorf("status after the extends: %v", st)
	}
}

// TestSealPredictedTPM12: the same on a TPM 1.2: sha1:16=H is TPM_Seal's
// digestAtRelease (the policy is its PCR composite digest), refused
// until the extends, opened after.
func TestSealPredictedTPM12(t *testing.T) {
	tpm := swtpmtest.Start12(t, true)
	secretFile := filepath.Join(t.TempDir(), "srk")
	os.WriteFile(secretFile, make([]byte, 20), 0o600) // swtpm_setup's SRK secret, as a password
	m := mountTPM(t, tpm.Source(), "state="+t.TempDir(), "srk_auth=file:"+secretFile)
	os.Mkdir(m.Path("seal", "next"), 0o700)
	old := readPCR(t, m.Path("pcrs", "sha1", "16"))
	d1, d2 := sha1.Sum([]byte("kernel")), sha1.Sum([]byte("initrd"))
	h := extended(crypto.SHA1, extended(crypto.SHA1, old, d1[:]), d2[:])
	sh(t, "echo sha1:16="+h+" > "+m.Path("seal", "next", "pcrs"))
	if got := sh(t, "cat "+m.Path("seal", "next", "pcrs")); got != "sha1:16="+h+"\n" {
		t.Errorf("pcrs = %q", got)
	}
	sh(t, "echo tpm 1.2 next boot > "+m.Path("seal", "next", "data"))
	if got := strings.TrimSpace(sh(t, "cat "+m.Path("seal", "next", "policy"))); got != composite16(h) {
		t.Errorf("policy = %s, want the PCR composite of the predicted value %s", got, composite16(h))
	}
	if _, err := os.ReadFile(m.Path("seal", "next", "data")); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("unseal before the extends: %v, want EACCES", err)
	}
	st := statusOf(t, m, "next")
	if d := differing(st); len(d) != 1 || d["sha1:16"] != fmt.Sprintf("differs sealed-to=%s current=%s (predicted)", h, old) {
		t.Errorf("status says these PCRs differ: %v", d)
	}
	if !strings.HasPrefix(st["tpm"], "this TPM") {
		t.Errorf("status tpm = %q", st["tpm"])
	}
	for _, d := range [][20]byte{d1, d2} {
		sh(t, fmt.Sprintf("echo %x > %s", d, m.Path("pcrs", "sha1", "16")))
	}
	if got := sh(t, "cat "+m.Path("seal", "next", "data")); got != "tpm 1.2 next boot\n" {
		t.Errorf("unseal after the extends = %q", got)
	}
	// No authkey or pcrsig on a TPM 1.2.
	if _, err := os.Stat(m.Path("seal", "next", "authkey")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("authkey on a TPM 1.2: %v", err)
	}
}

// TestSealStatus: status names exactly the PCRs that differ, with the
// sealed-to and current values (both computed here), and tells an object
// of another TPM apart.
func TestSealStatus(t *testing.T) {
	first, second := swtpmtest.Start(t), swtpmtest.Start(t)
	state := t.TempDir()
	m := mountSeal(t, first.Source(), state)
	os.Mkdir(m.Path("seal", "k"), 0o700)
	sh(t, "echo sha256:0,7,16+sha1:16 > "+m.Path("seal", "k", "pcrs"))
	sh(t, "echo status secret > "+m.Path("seal", "k", "data"))
	before := map[string]string{}
	for _, p := range []struct{ bank, file, name string }{
		{"sha256", "00", "sha256:0"}, {"sha256", "07", "sha256:7"}, {"sha256", "16", "sha256:16"}, {"sha1", "16", "sha1:16"},
	} {
		before[p.name] = readPCR(t, m.Path("pcrs", p.bank, p.file))
	}
	st := statusOf(t, m, "k")
	if len(differing(st)) != 0 || !strings.HasPrefix(st["tpm"], "this TPM") || st["unseal"] != "would succeed now" ||
		!strings.HasPrefix(st["parent"], "storage root key") {
		t.Errorf("status before anything moved: %v", st)
	}
	for k, v := range before {
		if want := fmt.Sprintf("matches sealed-to=%s current=%s", v, v); st["pcr "+k] != want {
			t.Errorf("status pcr %s = %q, want %q", k, st["pcr "+k], want)
		}
	}
	// Move sha256:16 only (an extend of that bank).
	d := sha256.Sum256([]byte("moved"))
	sh(t, fmt.Sprintf("echo %x > %s", d, m.Path("pcrs", "sha256", "16")))
	now16 := extended(crypto.SHA256, before["sha256:16"], d[:])
	if _, err := os.ReadFile(m.Path("seal", "k", "data")); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("unseal after sha256:16 moved: %v, want EACCES", err)
	}
	st = statusOf(t, m, "k")
	want := map[string]string{"sha256:16": fmt.Sprintf("differs sealed-to=%s current=%s", before["sha256:16"], now16)}
	if got := differing(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status says these PCRs differ: %v; want %v", got, want)
	}
	if st["unseal"] != "would fail now: sha256:16 differs" || !strings.Contains(st["last-failure"], "sha256:16") {
		t.Errorf("status: unseal %q, last failure %q", st["unseal"], st["last-failure"])
	}
	m.unmount(t)

	// The same state on another TPM: status says so; reading is EIO.
	m2 := mountSeal(t, second.Source(), state)
	if _, err := os.ReadFile(m2.Path("seal", "k", "data")); !errors.Is(err, syscall.EIO) {
		t.Errorf("unseal on another TPM: %v, want EIO", err)
	}
	st = statusOf(t, m2, "k")
	if !strings.HasPrefix(st["tpm"], "another TPM") || !strings.Contains(st["unseal"], "sealed on another TPM") ||
		!strings.Contains(st["last-failure"], "belongs to another TPM") {
		t.Errorf("status on another TPM: tpm %q, unseal %q, last failure %q", st["tpm"], st["unseal"], st["last-failure"])
	}
}
