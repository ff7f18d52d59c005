package fs

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/faketpm"
)

func TestEKFiles(t *testing.T) {
	f := mountFake(t)
	entries, err := os.ReadDir(f.path("ek"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "ecc-nistp384.crt ecc-nistp384.pub.pem rsa2048.crt rsa2048.pub.pem" {
		t.Errorf("ek/ lists %q", got)
	}
	if got := readPCR(t, f, "ek/rsa2048.crt"); got != "fake RSA EK certificate" {
		t.Errorf("certificate %q", got)
	}
	if got := readPCR(t, f, "ek/ecc-nistp384.pub.pem"); !strings.Contains(got, "fake EK ecc-nistp384") {
		t.Errorf("public key %q", got)
	}
	if fi, _ := os.Stat(f.path("ek/rsa2048.crt")); fi.Mode().Perm() != 0o444 || fi.Size() != 23 {
		t.Errorf("certificate stat %v", fi)
	}
	if fi, _ := os.Stat(f.path("ek")); fi.Mode().Perm() != 0o555 {
		t.Errorf("ek/ mode %v", fi.Mode())
	}
	_, err = os.OpenFile(f.path("ek/rsa2048.crt"), os.O_WRONLY, 0)
	wantErrno(t, "open a certificate for writing", err, syscall.EACCES)
	wantErrno(t, "rm a certificate", os.Remove(f.path("ek/rsa2048.crt")), syscall.EPERM)
	wantErrno(t, "chmod ek/", os.Chmod(f.path("ek"), 0o777), syscall.EPERM)
	_, err = os.Stat(f.path("ek/ecc-nistp256.crt"))
	wantErrno(t, "a certificate the TPM does not hold", err, syscall.ENOENT)
}

// quoteAnswer is the JSON quote reads as.
type quoteAnswer struct {
	Attest, Signature, PCRsSerialized, Selection, Nonce, Keylime string
	PCRs                                                         map[string]map[string]string
}

func parseAnswer(t *testing.T, b []byte) quoteAnswer {
	t.Helper()
	var q struct {
		Attest         string                       `json:"attest"`
		Signature      string                       `json:"signature"`
		PCRsSerialized string                       `json:"pcrs_serialized"`
		PCRs           map[string]map[string]string `json:"pcrs"`
		Selection      string                       `json:"selection"`
		Nonce          string                       `json:"nonce"`
		Keylime        string                       `json:"keylime"`
	}
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return quoteAnswer{q.Attest, q.Signature, q.PCRsSerialized, q.Selection, q.Nonce, q.Keylime, q.PCRs}
}

func TestAKFiles(t *testing.T) {
	f := mountFake(t)
	if err := syscall.Mkdir(f.path("ak/k"), 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f.path("ak/k")); fi.Mode().Perm() != 0o700 {
		t.Errorf("new key mode %v, want private", fi.Mode())
	}
	entries, _ := os.ReadDir(f.path("ak/k"))
	if len(entries) != 6 {
		t.Errorf("ak/k lists %v", entries)
	}
	wantErrno(t, "mkdir of an existing key", os.Mkdir(f.path("ak/k"), 0o700), syscall.EEXIST)
	wantErrno(t, "mkdir of a bad name", os.Mkdir(f.path("ak/a@b"), 0o700), syscall.EINVAL)
	if got := readPCR(t, f, "ak/k/type"); got != "ecc\n" {
		t.Errorf("type %q", got)
	}
	wantErrno(t, "type dsa", os.WriteFile(f.path("ak/k/type"), []byte("dsa\n"), 0), syscall.EINVAL)
	if err := os.WriteFile(f.path("ak/k/type"), []byte("rsa\n"), 0); err != nil {
		t.Fatal(err)
	}
	if f.tpm.AKsMade() != 0 {
		t.Error("a key made before first use")
	}
	pemKey := readPCR(t, f, "ak/k/public.pem")
	if !strings.HasPrefix(pemKey, "-----BEGIN PUBLIC KEY-----") || f.tpm.AKsMade() != 1 {
		t.Errorf("public.pem %q", pemKey)
	}
	out, err := exec.Command("openssl", "pkey", "-pubin", "-in", f.path("ak/k/public.pem"), "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2048 bit") {
		t.Errorf("openssl reads public.pem: %v %s", err, out)
	}
	name := strings.TrimSpace(readPCR(t, f, "ak/k/name"))
	if len(name) != 68 || !strings.HasPrefix(name, "000b") {
		t.Errorf("name %q", name)
	}
	if fi, _ := os.Stat(f.path("ak/k/public.tpm2b")); fi.Size() < 256 || fi.Mode().Perm() != 0o400 {
		t.Errorf("public.tpm2b %v", fi)
	}
	wantErrno(t, "type after first use", os.WriteFile(f.path("ak/k/type"), []byte("ecc\n"), 0), syscall.EPERM)
	_, err = os.OpenFile(f.path("ak/k/public.pem"), os.O_WRONLY, 0)
	wantErrno(t, "open public.pem for writing", err, syscall.EACCES)
	wantErrno(t, "rm quote", os.Remove(f.path("ak/k/quote")), syscall.EPERM)
	wantErrno(t, "chmod name", os.Chmod(f.path("ak/k/name"), 0o444), syscall.EPERM)
	wantErrno(t, "truncate name", os.Truncate(f.path("ak/k/name"), 0), syscall.EINVAL)

	// chmod of the key: its files follow.
	if err := os.Chmod(f.path("ak/k"), 0o750); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]os.FileMode{"public.pem": 0o440, "quote": 0o640, "type": 0o640} {
		if fi, _ := os.Stat(f.path("ak/k/" + file)); fi.Mode().Perm() != want {
			t.Errorf("%s after chmod 750: %v", file, fi.Mode())
		}
	}

	// activate: a credential for this key's name, written in two pieces.
	cred := faketpm.FakeCredential(name, []byte("the secret"))
	a, err := os.OpenFile(f.path("ak/k/activate"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.Write(cred[:7])
	if _, err := a.Write(cred[7:]); err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(a); string(got) != "the secret" {
		t.Errorf("activated %q", got)
	}
	_, err = a.Write(faketpm.FakeCredential(strings.Repeat("00", 34), []byte("x")))
	wantErrno(t, "a credential for another name", err, syscall.EACCES)
	_, err = a.Write([]byte("not a credential file"))
	wantErrno(t, "garbage", err, syscall.EINVAL)
	a.Write(cred[:20])
	_, err = a.Read(make([]byte, 10))
	wantErrno(t, "read after an incomplete credential", err, syscall.EINVAL)
	a.Close()

	if err := syscall.Rmdir(f.path("ak/k")); err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(f.path("ak/k"))
	wantErrno(t, "after rmdir", err, syscall.ENOENT)
	if _, err := os.Stat(f.path("seal/k")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("seal/k appeared: %v", err)
	}
}

func TestAKQuoteTransaction(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("ak/k"), 0o700)
	f.tpm.Measure(nil, 1, []byte("boot"))
	q, err := os.OpenFile(f.path("ak/k/quote"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got, _ := io.ReadAll(q); len(got) != 0 {
		t.Errorf("an answer before any request: %q", got)
	}
	if _, err := q.Write([]byte("sha256:0-1 nonce=ABCD\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(q)
	ans := parseAnswer(t, got)
	pcr1 := strings.TrimSpace(readPCR(t, f, "pcrs/sha256/01"))
	if ans.Nonce != "abcd" || ans.Selection != "sha256:0,1" || ans.PCRs["sha256"]["1"] != pcr1 || len(ans.PCRs["sha256"]) != 2 {
		t.Errorf("answer %+v", ans)
	}
	attest, _ := base64.StdEncoding.DecodeString(ans.Attest)
	if !strings.HasSuffix(string(attest), "\xab\xcd") || !strings.HasPrefix(ans.Keylime, "r"+ans.Attest+":"+ans.Signature+":") {
		t.Errorf("attest %q keylime %q", attest, ans.Keylime)
	}
	if ser, _ := base64.StdEncoding.DecodeString(ans.PCRsSerialized); len(ser) != 132+4+532 {
		t.Errorf("pcrs_serialized of %d bytes", len(ser))
	}
	if more, _ := io.ReadAll(q); len(more) != 0 {
		t.Errorf("read past the answer: %q", more)
	}
	// Hostile requests fail at write and leave the file usable.
	for _, bad := range []string{"sha256:0-1\nsha1:0\n", "sha384:0 nonce=00\n", "nonce=00\n", "sha256:0 nonce=" + strings.Repeat("ab", 65) + "\n",
		"\x00\xff\xfe\n", "sha256:0 sha256:1\n", "sha256:0 nonce=00 extra\n"} {
		_, err := q.Write([]byte(bad))
		wantErrno(t, "request "+hex.EncodeToString([]byte(bad)), err, syscall.EINVAL)
	}
	_, err = q.Write([]byte(strings.Repeat("sha256:0,", 600)))
	wantErrno(t, "a request too long", err, syscall.EFBIG)
	// A request without newline runs at the read.
	q.Write([]byte("sha1:0 nonce=01"))
	if ans := parseAnswer(t, mustReadAll(t, q)); ans.Selection != "sha1:0" || ans.Nonce != "01" {
		t.Errorf("answer %+v", ans)
	}
	// The TPM failing: EIO at the write.
	f.tpm.FailQuote(faketpm.ErrInjected)
	_, err = q.Write([]byte("sha256:0\n"))
	wantErrno(t, "quote with a failing TPM", err, syscall.EIO)
	f.tpm.FailQuote(nil)

	// A shell's > works and keeps nothing; from a shell the transaction
	// is exec 3<>quote; echo >&3; cat <&3.
	if out, err := exec.Command("sh", "-c", "echo 'sha256:0 nonce=00' > "+f.path("ak/k/quote")).CombinedOutput(); err != nil {
		t.Errorf("echo > quote: %v %s", err, out)
	}
	out, err := exec.Command("bash", "-c", "exec 3<>"+f.path("ak/k/quote")+"; echo 'sha256:16 nonce=0102' >&3; cat <&3").Output()
	if err != nil || parseAnswer(t, out).Nonce != "0102" {
		t.Errorf("shell transaction: %v %q", err, out)
	}
}

func mustReadAll(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAKStaleDescriptors: descriptors of a removed key fail and never
// reach the key that takes its name.
func TestAKStaleDescriptors(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("ak/k"), 0o700)
	q, err := os.OpenFile(f.path("ak/k/quote"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	typ, _ := os.OpenFile(f.path("ak/k/type"), os.O_WRONLY, 0)
	defer typ.Close()
	oldName := readPCR(t, f, "ak/k/name")
	syscall.Rmdir(f.path("ak/k"))
	os.Mkdir(f.path("ak/k"), 0o700)
	_, err = q.Write([]byte("sha256:0 nonce=00\n"))
	wantErrno(t, "quote through the removed key's descriptor", err, syscall.ESTALE)
	_, err = typ.Write([]byte("rsa\n"))
	wantErrno(t, "type through the removed key's descriptor", err, syscall.ESTALE)
	if got := readPCR(t, f, "ak/k/type"); got != "ecc\n" {
		t.Errorf("the new key's type %q", got)
	}
	if readPCR(t, f, "ak/k/name") == oldName {
		t.Error("the new key has the old key's name")
	}
}

// TestAKManyDescriptors: 1000 open quote files, each its own
// transaction, each with its own answer.
func TestAKManyDescriptors(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("ak/k"), 0o700)
	var files []*os.File
	defer func() {
		for _, q := range files {
			q.Close()
		}
	}()
	for i := range 1000 {
		q, err := os.OpenFile(f.path("ak/k/quote"), os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		files = append(files, q)
		if _, err := q.Write([]byte("sha256:0 nonce=" + hex.EncodeToString([]byte{byte(i >> 8), byte(i)}) + "\n")); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	for i, q := range files {
		if ans := parseAnswer(t, mustReadAll(t, q)); ans.Nonce != hex.EncodeToString([]byte{byte(i >> 8), byte(i)}) {
			t.Fatalf("descriptor %d answers %+v", i, ans)
		}
	}
}

func TestAKReadOnly(t *testing.T) {
	f := mountFake(t, readOnly)
	wantErrno(t, "mkdir on a read-only mount", os.Mkdir(f.path("ak/k"), 0o700), syscall.EROFS)
}
