package tpm12

import (
	"bytes"
	"testing"
)

// The tick nonce names one power-on of the TPM: the same while it runs,
// another after swtpm restarts (a new TPM_Init), whatever was sent.
func TestTickNonceNamesABoot(t *testing.T) {
	tpm := startSwtpm12(t, unowned)
	a, err := TickNonce(tpm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Extend(tpm, 16, [DigestSize]byte{1}); err != nil {
		t.Fatal(err)
	}
	b, err := TickNonce(tpm)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a == [DigestSize]byte{} {
		t.Fatalf("nonce %x, then %x: want one non-zero nonce while the TPM runs", a, b)
	}
	if tpm.lastCmd[9] != byte(ordGetTicks) || len(tpm.lastCmd) != 10 {
		t.Fatalf("TPM_GetTicks sent as %x", tpm.lastCmd)
	}
	tpm.sw.Stop()
	tpm.sw.Restart(t)
	c, err := TickNonce(tpm)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c[:], a[:]) {
		t.Fatalf("nonce %x unchanged after the TPM restarted", c)
	}
}
