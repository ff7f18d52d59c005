package attest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tpmcore/nv"
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.RunMain(m)) }

// TestSwtpmTools checks against tpm2-tools and openssl on an swtpm with
// EK certificates: each re-created EK has the key its certificate
// certifies, a quote verifies with tpm2_checkquote (and fails for
// another nonce), and tpm2_makecredential's file activates.
func TestSwtpmTools(t *testing.T) {
	swtpmtest.Require(t, "openssl", "tpm2_checkquote", "tpm2_makecredential", "tpm2_nvread")
	sw := swtpmtest.StartEK(t)
	dir := t.TempDir()
	certs := map[string]string{}
	for _, idx := range []string{"0x1c00002", "0x1c00016"} {
		p := filepath.Join(dir, idx+".der")
		sw.Tool(t, nil, "tpm2_nvread", idx, "-o", p)
		certs[idx] = p
	}
	conn := sw.Dial(t)
	var have []EKProfile
	pems := map[uint32][]byte{}
	for _, p := range EKProfiles {
		if _, err := nv.ReadPublic(conn, p.Cert); err != nil {
			continue
		}
		have = append(have, p)
		pemKey, err := EKPublicPEM(conn, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		pems[p.Cert] = pemKey
	}
	if len(have) != 2 || have[0].Name != "rsa2048" || have[1].Name != "ecc-nistp384" {
		t.Fatalf("EK certificates found: %v", have)
	}
	k, err := CreateAK(conn, nil, RSA)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.PublicInfo()
	nonce := []byte{0xab, 0xcd, 0xef}
	q, err := QuotePCRs(conn, nil, k, mustSel("sha256:0-9,16+sha1:0"), nonce)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("a verifier's challenge")
	conn.Close()

	for idx, p := range certs {
		out := run(t, "openssl", "x509", "-inform", "DER", "-in", p, "-noout", "-pubkey")
		prof := map[string]uint32{"0x1c00002": 0x01c00002, "0x1c00016": 0x01c00016}[idx]
		if !bytes.Equal([]byte(out), pems[prof]) {
			t.Errorf("EK %s: certificate's key\n%s\nre-created key\n%s", idx, out, pems[prof])
		}
	}
	files := map[string][]byte{"ak.pem": pub.PEM, "attest": q.Attest, "sig": q.Signature, "pcrs": q.Serialized(), "ek.pem": pems[0x01c00002], "secret": secret}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	check := func(nonce string) error {
		_, err := runErr("tpm2_checkquote", "-u", filepath.Join(dir, "ak.pem"), "-m", filepath.Join(dir, "attest"),
			"-s", filepath.Join(dir, "sig"), "-f", filepath.Join(dir, "pcrs"), "-g", "sha256", "-q", nonce)
		return err
	}
	if err := check("abcdef"); err != nil {
		t.Errorf("tpm2_checkquote: %v", err)
	}
	if err := check("abcdee"); err == nil {
		t.Errorf("tpm2_checkquote accepts another nonce")
	}

	run(t, "tpm2_makecredential", "-T", "none", "-G", "rsa", "-u", filepath.Join(dir, "ek.pem"), "-n", pub.Name,
		"-s", filepath.Join(dir, "secret"), "-o", filepath.Join(dir, "cred"))
	file, _ := os.ReadFile(filepath.Join(dir, "cred"))
	c, complete, err := ParseCredential(file)
	if err != nil || !complete {
		t.Fatalf("tpm2_makecredential's file: %v %v", complete, err)
	}
	conn = sw.Dial(t)
	got, err := Activate(conn, nil, k, c, Candidates(c, have))
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("activate: %q %v", got, err)
	}
	other, _ := CreateAK(conn, nil, ECC)
	if _, err := Activate(conn, nil, other, c, Candidates(c, have)); !errors.Is(err, ErrRefused) {
		t.Errorf("another AK activates: %v", err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func runErr(name string, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), errors.Join(err, errors.New(stderr.String()))
	}
	return string(out), nil
}
