package fs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/faketpm"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/sealing"
)

// shell runs a bash script and returns its combined output.
func shell(script string) (string, error) {
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	return string(out), err
}

// statusLines reads seal/NAME/status into its "key: value" lines.
func statusLines(t *testing.T, f *fixture, name string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(readPCR(t, f, "seal/"+name+"/status")), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("status line %q is not key: value", l)
		}
		lines[k] = v
	}
	return lines
}

// TestSealPredicted: pcrs takes a value for a PCR; data sealed to it
// opens only once the PCR gets there through pcrs/sha256/16; status says
// which PCR differs, with both values, until then; a wrong value is
// refused at write, changing nothing.
func TestSealPredicted(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("seal/k"), 0o700)
	old, _ := hex.DecodeString(strings.TrimSpace(readPCR(t, f, "pcrs/sha256/16")))
	d1, d2 := sha256.Sum256([]byte("kernel")), sha256.Sum256([]byte("initrd"))
	h := extended(extended(old, d1[:]), d2[:])
	if out, err := shell(fmt.Sprintf("echo sha256:16=%X > %s", h, f.path("seal/k/pcrs"))); err != nil {
		t.Fatal(out, err)
	}
	if got, want := readPCR(t, f, "seal/k/pcrs"), fmt.Sprintf("sha256:16=%x\n", h); got != want {
		t.Errorf("pcrs = %q, want %q", got, want)
	}
	if err := os.WriteFile(f.path("seal/k/data"), []byte("later"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := os.ReadFile(f.path("seal/k/data"))
	wantErrno(t, "unseal before the extends", err, syscall.EACCES)
	waitFor(t, "the log line naming the PCR", func() bool { return strings.Contains(f.log.String(), "pcrs_differ=\"sha256:16\"") })
	st := statusLines(t, f, "k")
	if want := fmt.Sprintf("differs sealed-to=%x current=%x (predicted)", h, old); st["pcr sha256:16"] != want {
		t.Errorf("status pcr sha256:16 = %q, want %q", st["pcr sha256:16"], want)
	}
	if !strings.HasPrefix(st["last-failure"], "20") || !strings.Contains(st["last-failure"], "sha256:16") ||
		st["unseal"] != "would fail now: sha256:16 differs" {
		t.Errorf("status: %v", st)
	}
	for _, bad := range []string{"sha256:16=abcd", fmt.Sprintf("sha256:16=%x,16", h), fmt.Sprintf("sha1:16=%x", h)} {
		if out, err := shell("echo " + bad + " > " + f.path("seal/k/pcrs")); err == nil || !strings.Contains(out, "Invalid argument") {
			t.Errorf("echo %s > pcrs: %v %q, want EINVAL", bad, err, out)
		}
	}
	if got := readPCR(t, f, "seal/k/pcrs"); got != fmt.Sprintf("sha256:16=%x\n", h) {
		t.Errorf("pcrs after refused writes = %q", got)
	}
	for _, d := range [][32]byte{d1, d2} {
		if out, err := shell(fmt.Sprintf("echo %x > %s", d, f.path("pcrs/sha256/16"))); err != nil {
			t.Fatal(out, err)
		}
	}
	if got := readPCR(t, f, "seal/k/data"); got != "later" {
		t.Errorf("data at the predicted value = %q", got)
	}
	st = statusLines(t, f, "k")
	if want := fmt.Sprintf("matches sealed-to=%x current=%x (predicted)", h, h); st["pcr sha256:16"] != want || st["unseal"] != "would succeed now" {
		t.Errorf("status after the extends: %v", st)
	}
}

// signingKey is an authkey and its private half; it signs policies as
// systemd-measure does (over the SHA-256 of the policy digest).
type signingKey struct {
	priv crypto.Signer
	pem  []byte
	fp   [32]byte
}

func newSigningKey(t *testing.T) *signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	// systemd's pkfp hashes the uncompressed point (i2d_PublicKey).
	point, _ := priv.PublicKey.ECDH()
	return &signingKey{priv: priv, pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), fp: sha256.Sum256(point.Bytes())}
}

// pcrsig is systemd's JSON with one sha256 policy per value of PCR 11.
func (k *signingKey) pcrsig(t *testing.T, pcr11 ...[]byte) string {
	t.Helper()
	sel, _ := pcrsel.Parse("sha256:11")
	var entries []string
	for _, v := range pcr11 {
		pol, err := sealing.PolicyDigest(sel, []sealing.PCRValue{{Bank: "sha256", Index: 11, Digest: v}})
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(pol)
		sig, err := k.priv.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, fmt.Sprintf(`{"pcrs":[11],"pkfp":"%x","pol":"%x","sig":"%s"}`,
			k.fp, pol, base64.StdEncoding.EncodeToString(sig)))
	}
	return `{"sha256":[` + strings.Join(entries, ",") + "]}\n"
}

func writeVia(t *testing.T, content, path string) (string, error) {
	t.Helper()
	src := t.TempDir() + "/src"
	if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return shell("cat " + src + " > " + path)
}

// TestSealSignedPolicies: authkey and pcrsig make data open in any PCR 11
// state the key signed, a new signature after PCR 11 moves opens it again
// with no reseal, and whatever is wrong in them is refused at write,
// changing nothing.
func TestSealSignedPolicies(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("seal/s"), 0o700)
	key, other := newSigningKey(t), newSigningKey(t)
	// pcrsig before authkey: nothing to check signatures against.
	if out, err := writeVia(t, key.pcrsig(t, make([]byte, 32)), f.path("seal/s/pcrsig")); err == nil || !strings.Contains(out, "Invalid argument") {
		t.Errorf("pcrsig before authkey: %v %q", err, out)
	}
	// Mistakes in authkey: refused at write, nothing kept.
	for name, text := range map[string]string{
		"typo":        strings.Replace(string(key.pem), "BEGIN PUBLIC", "BEGIN PUBLlC", 1),
		"second line": string(key.pem) + "rm -rf /\n",
		"two keys":    string(key.pem) + string(other.pem),
		"body typo":   strings.Replace(string(key.pem), "MF", "MG", 1),
	} {
		if out, err := writeVia(t, text, f.path("seal/s/authkey")); err == nil || !strings.Contains(out, "Invalid argument") {
			t.Errorf("authkey with a %s: %v %q, want EINVAL", name, err, out)
		}
		if got := readPCR(t, f, "seal/s/authkey"); got != "" {
			t.Errorf("authkey after a refused %s: %q", name, got)
		}
	}
	if out, err := writeVia(t, string(key.pem), f.path("seal/s/authkey")); err != nil {
		t.Fatal(out, err)
	}
	if got := readPCR(t, f, "seal/s/authkey"); got != string(key.pem) {
		t.Errorf("authkey reads %q", got)
	}
	pcr11, _ := hex.DecodeString(strings.TrimSpace(readPCR(t, f, "pcrs/sha256/11")))
	d := sha256.Sum256([]byte("enter-initrd"))
	next := extended(pcr11, d[:])
	sig := key.pcrsig(t, pcr11)
	if out, err := writeVia(t, sig, f.path("seal/s/pcrsig")); err != nil {
		t.Fatal(out, err)
	}
	if got := readPCR(t, f, "seal/s/pcrsig"); got != sig {
		t.Errorf("pcrsig reads %q, wrote %q", got, sig)
	}
	if err := os.WriteFile(f.path("seal/s/data"), []byte("uki"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readPCR(t, f, "seal/s/data"); got != "uki" {
		t.Fatalf("data = %q", got)
	}
	seals, _, _ := f.tpm.Counts()

	if out, err := shell(fmt.Sprintf("echo %x > %s", d, f.path("pcrs/sha256/11"))); err != nil {
		t.Fatal(out, err)
	}
	_, err := os.ReadFile(f.path("seal/s/data"))
	wantErrno(t, "unseal after PCR 11 moved", err, syscall.EACCES)
	st := statusLines(t, f, "s")
	if st["pcrsig 1"] != fmt.Sprintf("sha256:11 policy=%s does not match the current values", policyOf(t, sig, 0)) ||
		st["signed sha256:11"] != fmt.Sprintf("current=%x", next) ||
		st["unseal"] != "would fail now: no signed policy matches the current PCRs" {
		t.Errorf("status after PCR 11 moved: %v", st)
	}
	// Mistakes in pcrsig: refused at write, the old one stays.
	for name, text := range map[string]string{
		"another key": other.pcrsig(t, next),
		"second line": key.pcrsig(t, next) + "{}\n",
		"typo":        strings.Replace(key.pcrsig(t, next), `"pol"`, `"po1"`, 1),
		"bad sig":     strings.Replace(key.pcrsig(t, next), `"sig":"M`, `"sig":"N`, 1),
	} {
		if out, err := writeVia(t, text, f.path("seal/s/pcrsig")); err == nil || !strings.Contains(out, "Invalid argument") {
			t.Errorf("pcrsig with %s: %v %q, want EINVAL", name, err, out)
		}
		if got := readPCR(t, f, "seal/s/pcrsig"); got != sig {
			t.Errorf("pcrsig after a refused %s: %q", name, got)
		}
	}
	// The next phase's signature, written ahead: opens, no reseal.
	both := key.pcrsig(t, pcr11, next)
	if out, err := writeVia(t, both, f.path("seal/s/pcrsig")); err != nil {
		t.Fatal(out, err)
	}
	if got := readPCR(t, f, "seal/s/data"); got != "uki" {
		t.Errorf("data with the next phase's signature = %q", got)
	}
	if n, _, _ := f.tpm.Counts(); n != seals {
		t.Errorf("a new pcrsig sealed %d times", n-seals)
	}
	if st := statusLines(t, f, "s"); !strings.HasSuffix(st["pcrsig 2"], "matches the current values") || st["unseal"] != "would succeed now" {
		t.Errorf("status with the next phase's signature: %v", st)
	}
	// authkey is fixed once data is sealed; the same key again is fine.
	if out, err := writeVia(t, string(other.pem), f.path("seal/s/authkey")); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("another authkey after sealing: %v %q, want EPERM", err, out)
	}
	if out, err := writeVia(t, string(key.pem), f.path("seal/s/authkey")); err != nil {
		t.Errorf("the same authkey again: %v %q", err, out)
	}
	wantErrno(t, "truncate authkey after sealing", os.Truncate(f.path("seal/s/authkey"), 0), syscall.EPERM)
	if got := readPCR(t, f, "seal/s/data"); got != "uki" {
		t.Errorf("data after refused authkey changes = %q", got)
	}
	// status is read-only.
	_, err = os.OpenFile(f.path("seal/s/status"), os.O_WRONLY, 0)
	wantErrno(t, "open status for writing", err, syscall.EACCES)
	if fi, _ := os.Stat(f.path("seal/s/status")); fi.Mode().Perm() != 0o400 {
		t.Errorf("status mode %v", fi.Mode())
	}
}

// policyOf returns the pol of entry i of a pcrsig.
func policyOf(t *testing.T, sig string, i int) string {
	parts := strings.Split(sig, `"pol":"`)
	if len(parts) <= i+1 {
		t.Fatalf("no policy %d in %s", i, sig)
	}
	return parts[i+1][:64]
}

// TestSealSignedStaleDescriptors: descriptors of authkey, pcrsig and
// status kept across rmdir and mkdir of the same name fail and never
// reach the new object.
func TestSealSignedStaleDescriptors(t *testing.T) {
	f := mountFake(t)
	key := newSigningKey(t)
	os.Mkdir(f.path("seal/k"), 0o700)
	os.WriteFile(f.path("seal/k/authkey"), key.pem, 0)
	ak, err := os.OpenFile(f.path("seal/k/authkey"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ak.Close()
	ps, err := os.OpenFile(f.path("seal/k/pcrsig"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	st, err := os.Open(f.path("seal/k/status"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	syscall.Rmdir(f.path("seal/k"))
	os.Mkdir(f.path("seal/k"), 0o700)
	_, err = ak.Write(newSigningKey(t).pem)
	wantErrno(t, "authkey write through a stale descriptor", err, syscall.ESTALE)
	_, err = ps.Write([]byte(key.pcrsig(t, make([]byte, 32))))
	wantErrno(t, "pcrsig write through a stale descriptor", err, syscall.ESTALE)
	_, err = st.ReadAt(make([]byte, 10), 0)
	wantErrno(t, "status read through a stale descriptor", err, syscall.ESTALE)
	for _, p := range []string{"authkey", "pcrsig"} {
		if got := readPCR(t, f, "seal/k/"+p); got != "" {
			t.Errorf("new object's %s = %q", p, got)
		}
	}
}

// TestSealStatusAnotherTPM: an object of another TPM is EIO to read, and
// status says why.
func TestSealStatusAnotherTPM(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("seal/k"), 0o700)
	os.WriteFile(f.path("seal/k/data"), []byte("x"), 0)
	if st := statusLines(t, f, "k"); !strings.HasPrefix(st["tpm"], "this TPM") {
		t.Errorf("status on its own TPM: %v", st)
	}
	f.tpm.Replace()
	_, err := os.ReadFile(f.path("seal/k/data"))
	wantErrno(t, "unseal on another TPM", err, syscall.EIO)
	st := statusLines(t, f, "k")
	if !strings.HasPrefix(st["tpm"], "another TPM") || st["unseal"] != "would fail now: sealed on another TPM" ||
		!strings.Contains(st["last-failure"], "belongs to another TPM") {
		t.Errorf("status on another TPM: %v", st)
	}
}

// TestSealTPM12Files: a TPM 1.2 has no signed policies: no authkey or
// pcrsig, but predicted values and status.
func TestSealTPM12Files(t *testing.T) {
	f := mountFakeTPM(t, faketpm.New12())
	os.Mkdir(f.path("seal/k"), 0o700)
	entries, _ := os.ReadDir(f.path("seal/k"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "data pcrs policy status" {
		t.Errorf("object on a TPM 1.2 lists %v", names)
	}
	_, err := os.Stat(f.path("seal/k/authkey"))
	wantErrno(t, "authkey on a TPM 1.2", err, syscall.ENOENT)
	h := bytes.Repeat([]byte{0x11}, 20)
	if err := os.WriteFile(f.path("seal/k/pcrs"), []byte(fmt.Sprintf("sha1:16=%x\n", h)), 0); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f.path("seal/k/data"), []byte("x"), 0)
	st := statusLines(t, f, "k")
	if !strings.HasPrefix(st["pcr sha1:16"], fmt.Sprintf("differs sealed-to=%x", h)) || st["parent"] != "storage root key of the TPM's owner (TPM 1.2 SRK)" {
		t.Errorf("status on a TPM 1.2: %v", st)
	}
}
