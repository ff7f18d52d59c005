package pcrsig

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// These tests make keys and signatures with the openssl command, the way
// an administrator does (openssl genpkey; systemd-measure signs with
// OpenSSL's EVP_DigestSign, which openssl dgst -sign is), so that the
// package is checked against OpenSSL rather than against Go's own
// crypto.

// opensslKey is a private key file made by openssl genpkey, and its
// public half as PEM.
type opensslKey struct {
	dir, priv string
	pub       []byte
}

func genKey(t *testing.T, args ...string) *opensslKey {
	t.Helper()
	swtpmtest.Require(t, "openssl")
	dir := t.TempDir()
	k := &opensslKey{dir: dir, priv: filepath.Join(dir, "key.pem")}
	openssl(t, append([]string{"genpkey", "-out", k.priv}, args...)...)
	k.pub = []byte(openssl(t, "pkey", "-in", k.priv, "-pubout"))
	return k
}

// Key generation is slow on a shared CPU: the tests share two RSA keys
// and two ECC keys, each made once per test that first asks for it.
var keyCache = map[string]*opensslKey{}

func cachedKey(t *testing.T, name string, args ...string) *opensslKey {
	t.Helper()
	if k := keyCache[name]; k != nil {
		if _, err := os.Stat(k.priv); err == nil {
			return k
		}
	}
	k := genKey(t, args...)
	// genKey's directory ends with the test; keep a copy for the others.
	dir, err := os.MkdirTemp("", "pcrsig-key")
	if err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(dir, "key.pem")
	b, _ := os.ReadFile(k.priv)
	if err := os.WriteFile(priv, b, 0o600); err != nil {
		t.Fatal(err)
	}
	keyCache[name] = &opensslKey{dir: dir, priv: priv, pub: k.pub}
	return keyCache[name]
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, k := range keyCache {
		os.RemoveAll(k.dir)
	}
	os.Exit(code)
}

// rsaKey and ecKey return one of two RSA-2048 (ECC P-256) keys.
func rsaKey(t *testing.T, n ...int) *opensslKey {
	return cachedKey(t, fmt.Sprint("rsa", n), "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
}

func ecKey(t *testing.T, n ...int) *opensslKey {
	return cachedKey(t, fmt.Sprint("ec", n), "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
}

// fingerprint is systemd's pkfp (SHA-256 of what i2d_PublicKey writes)
// computed from openssl's output: the PKCS#1 RSAPublicKey of an RSA key,
// the uncompressed point that ends the DER public key of a P-256 key.
func (k *opensslKey) fingerprint(t *testing.T) string {
	var raw []byte
	if strings.Contains(openssl(t, "pkey", "-in", k.priv, "-noout", "-text"), "modulus:") {
		raw = []byte(openssl(t, "rsa", "-in", k.priv, "-RSAPublicKey_out", "-outform", "DER"))
	} else {
		der := openssl(t, "pkey", "-in", k.priv, "-pubout", "-outform", "DER")
		raw = []byte(der[len(der)-65:])
	}
	fp := sha256.Sum256(raw)
	return hex.EncodeToString(fp[:])
}

// sign signs pol with digest alg (sha256, sha1, ...) as EVP_DigestSign
// does, and returns the signature in base64.
func (k *opensslKey) sign(t *testing.T, alg string, pol []byte) string {
	t.Helper()
	in := filepath.Join(k.dir, "pol")
	if err := os.WriteFile(in, pol, 0o600); err != nil {
		t.Fatal(err)
	}
	sig := openssl(t, "dgst", "-"+alg, "-sign", k.priv, in)
	return base64.StdEncoding.EncodeToString([]byte(sig))
}

// entry is one signed policy in systemd's JSON.
func (k *opensslKey) entry(t *testing.T, alg string, pcrs string, pol []byte) string {
	return fmt.Sprintf(`{"pcrs":[%s],"pkfp":"%s","pol":"%x","sig":"%s"}`, pcrs, k.fingerprint(t), pol, k.sign(t, alg, pol))
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + strings.TrimSpace(string(ee.Stderr))
		}
		t.Fatalf("openssl %s: %s", strings.Join(args, " "), msg)
	}
	return string(out)
}

func pol(b byte) []byte {
	p := make([]byte, 32)
	for i := range p {
		p[i] = b + byte(i)
	}
	return p
}
