package sealing

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tpmcore/pcrsel"
)

// TestTpm2ToolsPredictedSigned checks policies against tpm2-tools on the
// same swtpm: sealed to a predicted value, the policy is
// tpm2_createpolicy --policy-pcr -f over that value; under an authkey,
// it is tpm2_policyauthorize by the key tpm2_loadexternal loads from the
// PEM (then tpm2_policypcr for the PCRs beside it).
func TestTpm2ToolsPredictedSigned(t *testing.T) {
	sw := swtpmtest.Start(t)
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	conn := sw.Dial(t)
	h := extendSHA256(extendSHA256(readPCR(t, conn, pcrsel.SHA256, 16), "a"), "b")
	spec := mustSpec(t, fmt.Sprintf("sha256:16=%x", h))
	predicted, err := Seal(conn, nil, "p", Binding{PCRs: spec}, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	s := testSigner(t, "rsa")
	if err := os.WriteFile(file("key.pem"), s.key.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	signedOnly, err := Seal(conn, nil, "s", Binding{AuthKey: s.key}, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	both, err := Seal(conn, nil, "b", Binding{PCRs: spec, AuthKey: s.key}, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()

	if err := os.WriteFile(file("values"), h, 0o600); err != nil {
		t.Fatal(err)
	}
	sw.Tool(t, nil, "tpm2_createpolicy", "--policy-pcr", "-l", "sha256:16", "-f", file("values"), "-L", file("pcr.policy"))
	sw.Tool(t, nil, "tpm2_flushcontext", "-l")
	if want := must(os.ReadFile(file("pcr.policy"))); !bytes.Equal(predicted.Policy, want) {
		t.Errorf("predicted policy %x, tpm2_createpolicy -f %x", predicted.Policy, want)
	}

	sw.Tool(t, nil, "tpm2_loadexternal", "-C", "o", "-G", "rsa", "-u", file("key.pem"), "-n", file("key.name"), "-c", file("key.ctx"))
	sw.Tool(t, nil, "tpm2_flushcontext", "-t")
	if err := os.WriteFile(file("approved"), make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	sw.Tool(t, nil, "tpm2_startauthsession", "-S", file("session"))
	sw.Tool(t, nil, "tpm2_policyauthorize", "-S", file("session"), "-L", file("auth.policy"),
		"-i", file("approved"), "-n", file("key.name"))
	sw.Tool(t, nil, "tpm2_policypcr", "-S", file("session"), "-l", "sha256:16", "-f", file("values"), "-L", file("both.policy"))
	sw.Tool(t, nil, "tpm2_flushcontext", file("session"))
	if want := must(os.ReadFile(file("auth.policy"))); !bytes.Equal(signedOnly.Policy, want) {
		t.Errorf("authkey policy %x, tpm2_policyauthorize %x", signedOnly.Policy, want)
	}
	if want := must(os.ReadFile(file("both.policy"))); !bytes.Equal(both.Policy, want) {
		t.Errorf("authkey and PCR policy %x, tpm2_policyauthorize then tpm2_policypcr %x", both.Policy, want)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
