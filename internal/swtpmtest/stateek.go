package swtpmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EKState is a TPM 2.0 state as from a factory that provisions EK
// certificates: made by swtpm_setup --create-ek-cert
// --create-platform-cert, signed by a local CA of its own (swtpm-tools'
// swtpm_localca). swtpm 0.7 stores an RSA-2048 EK certificate at NV
// index 0x01c00002 and an ECC P-384 one at 0x01c00016, and a platform
// certificate at 0x01c08000; the sha1 and sha256 banks are active.
type EKState struct {
	// Dir is the TPM state, for Options.From (StartEK): shared, never
	// to be changed.
	Dir string
	// CA is the local CA's directory: swtpm-localca-rootca-cert.pem
	// (the root) and issuercert.pem (the intermediate that signed the
	// certificates).
	CA string
}

// RootCert and IssuerCert are the paths of the CA's two certificates.
func (e EKState) RootCert() string   { return filepath.Join(e.CA, "swtpm-localca-rootca-cert.pem") }
func (e EKState) IssuerCert() string { return filepath.Join(e.CA, "issuercert.pem") }

// StateEK returns the EK-certificate state, made once per test binary
// (two key generations and a CA take a second or two). The package's
// TestMain must call RunMain, which removes it.
func StateEK(t testing.TB) EKState {
	t.Helper()
	Require(t, "swtpm", "swtpm_setup", "swtpm_localca")
	states.Lock()
	defer states.Unlock()
	if !states.inMain {
		t.Fatal("swtpmtest.StateEK needs the package's TestMain to call swtpmtest.RunMain, which removes the states")
	}
	if states.ek != nil {
		return *states.ek
	}
	if states.root == "" {
		root, err := os.MkdirTemp("", "swtpmtest-states-")
		if err != nil {
			t.Fatal(err)
		}
		states.root = root
	}
	dir := filepath.Join(states.root, "ek")
	e := EKState{Dir: filepath.Join(dir, "state"), CA: filepath.Join(dir, "ca")}
	for _, d := range []string{e.Dir, e.CA} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A configuration of our own: the CA in the test's directory, not
	// the system's /var/lib/swtpm-localca.
	caConf := filepath.Join(dir, "swtpm-localca.conf")
	setupConf := filepath.Join(dir, "swtpm_setup.conf")
	files := map[string]string{
		caConf: fmt.Sprintf("statedir = %[1]s\nsigningkey = %[1]s/signkey.pem\nissuercert = %[1]s/issuercert.pem\ncertserial = %[1]s/certserial\n", e.CA),
		setupConf: fmt.Sprintf("create_certs_tool = %s\ncreate_certs_tool_config = %s\nactive_pcr_banks = sha1,sha256\n",
			lookPath(t, "swtpm_localca"), caConf),
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--tpm2", "--tpm-state", e.Dir, "--create-ek-cert", "--create-platform-cert", "--config", setupConf}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swtpm_setup", args...)
	cmd.WaitDelay = waitDelay
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("swtpm_setup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	states.ek = &e
	return e
}

// StartEK runs a TPM 2.0 swtpm on a copy of the EK-certificate state.
func StartEK(t testing.TB) *Swtpm {
	t.Helper()
	return StartWith(t, Options{From: StateEK(t).Dir})
}

func lookPath(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		SkipOrFail(t, "%s not installed: %v", tool, err)
	}
	return p
}
