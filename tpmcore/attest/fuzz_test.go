package attest

import (
	"testing"

	"tpmfs/tpmcore/sealing"
)

func pcrValue(size int, fill byte) sealing.PCRValue {
	d := make([]byte, size)
	for i := range d {
		d[i] = fill
	}
	bank := "sha256"
	if size == 20 {
		bank = "sha1"
	}
	return sealing.PCRValue{Bank: bank, Index: int(fill), Digest: d}
}

// FuzzParseRequest: whatever a writer sends, the parser answers without
// panicking, and what it accepts is a non-empty selection with a nonce
// a quote takes.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"sha256:0-7 nonce=abcd\n", "nonce=0x00 sha1:0+sha256:all", "sha256:7-0", "nonce=", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, nonce, err := ParseRequest(s)
		if err != nil {
			return
		}
		if sel.IsEmpty() || len(nonce) > MaxNonce {
			t.Errorf("ParseRequest(%q) accepted %s with a nonce of %d bytes", s, sel, len(nonce))
		}
	})
}

// FuzzParseCredential: no input panics, and a complete credential
// re-encodes to exactly the input.
func FuzzParseCredential(f *testing.F) {
	f.Add(credFile([]byte("id"), []byte("secret")))
	f.Add([]byte{0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, complete, err := ParseCredential(b)
		if err != nil || !complete {
			return
		}
		if got := credFile(c.IDObject, c.Secret); string(got) != string(b) {
			t.Errorf("ParseCredential(% x) re-encodes to % x", b, got)
		}
	})
}
