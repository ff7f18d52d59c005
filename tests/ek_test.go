package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// TestEKCertificates: on a TPM provisioned with EK certificates by
// swtpm_setup's local CA, each file of ek/ is byte for byte what
// tpm2_nvread reads of its index, a certificate openssl parses and
// verifies against that CA, and it certifies the key in NAME.pub.pem;
// any user reads them, unless ek_mode= says otherwise.
func TestEKCertificates(t *testing.T) {
	require(t, "tpm2_nvread", "openssl", "setpriv")
	state := swtpmtest.StateEK(t)
	tpm := swtpmtest.StartEK(t)
	dir := sharedDir(t)
	indices := map[string]string{"rsa2048": "0x1c00002", "ecc-nistp384": "0x1c00016"}
	nvread := map[string][]byte{}
	for name, idx := range indices {
		p := filepath.Join(dir, name+".nvread")
		tpm.Tool(t, nil, "tpm2_nvread", idx, "-o", p)
		nvread[name], _ = os.ReadFile(p)
	}
	m := mountShared(t, tpm.Source(), "allow_other")
	if got := infoFields(t, m)["ek_certs"]; got != "0x01c00002 0x01c00016" {
		t.Errorf("info ek_certs: %q", got)
	}
	ents, _ := os.ReadDir(m.Path("ek"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"ecc-nistp384.crt", "ecc-nistp384.pub.pem", "rsa2048.crt", "rsa2048.pub.pem"}; !slices.Equal(names, want) {
		t.Errorf("ek/ holds %v, want %v", names, want)
	}
	for name := range indices {
		crt := m.Path("ek", name+".crt")
		got, err := os.ReadFile(crt)
		if err != nil || !bytes.Equal(got, nvread[name]) {
			t.Errorf("%s.crt (%d bytes, %v) differs from tpm2_nvread's %d bytes", name, len(got), err, len(nvread[name]))
		}
		sum := sha256.Sum256(nvread[name])
		if out := nobody.must(t, "sha256sum "+crt); !strings.HasPrefix(out, hex.EncodeToString(sum[:])) {
			t.Errorf("nobody reads %s.crt as %s", name, out)
		}
		nobody.must(t, "openssl x509 -inform DER -in "+crt+" -noout -subject")
		pemCert := filepath.Join(dir, name+".pem")
		run(t, "openssl", "x509", "-inform", "DER", "-in", crt, "-out", pemCert)
		if out, err := runErr("openssl", "verify", "-CAfile", state.RootCert(), "-untrusted", state.IssuerCert(), pemCert); err != nil {
			t.Errorf("%s.crt does not verify against the local CA: %v\n%s", name, err, out)
		}
		if _, err := runErr("openssl", "verify", "-CAfile", state.RootCert(), pemCert); err == nil {
			t.Errorf("%s.crt verifies without its issuer: the check proves nothing", name)
		}
		certKey := run(t, "openssl", "x509", "-inform", "DER", "-in", crt, "-noout", "-pubkey")
		if pub := nobody.must(t, "cat "+m.Path("ek", name+".pub.pem")); pub != certKey {
			t.Errorf("%s.pub.pem\n%s\nthe certificate's key\n%s", name, pub, certKey)
		}
		nobody.refused(t, syscall.EACCES, "echo x > "+crt)
		nobody.refused(t, syscall.EACCES, "rm -f "+crt)
	}
	if got := statAttr(t, m.Path("ek", "rsa2048.crt")); got.mode != syscall.S_IFREG|0o444 {
		t.Errorf("rsa2048.crt: %v", got)
	}
	m.unmount(t)

	m = mountShared(t, tpm.Source(), "allow_other", "ek_mode=0440")
	nobody.refused(t, syscall.EACCES, "cat "+m.Path("ek", "rsa2048.crt"))
	if got := statAttr(t, m.Path("ek")); got.mode != syscall.S_IFDIR|0o550 {
		t.Errorf("ek/ with ek_mode=0440: %v", got)
	}
}
