package pcrsel

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// TestTPML checks the marshalled TPML_PCR_SELECTION byte for byte against
// Part 2 (count, then per bank: hash, sizeofSelect, bitmap with PCR n at
// bit n%8 of byte n/8), as tpm2-tools builds it with sizeofSelect 3.
func TestTPML(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"", []byte{0, 0, 0, 0}},
		{"sha256:0,7", []byte{0, 0, 0, 1, 0x00, 0x0b, 3, 0x81, 0x00, 0x00}},
		{"sha256:16,23+sha1:8", []byte{0, 0, 0, 2,
			0x00, 0x04, 3, 0x00, 0x01, 0x00,
			0x00, 0x0b, 3, 0x00, 0x00, 0x81}},
		{"sm3_256:all", []byte{0, 0, 0, 1, 0x00, 0x12, 3, 0xff, 0xff, 0xff}},
	}
	for _, tc := range tests {
		sel, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		l := sel.TPML()
		if got := tpm2.Marshal(l); !bytes.Equal(got, tc.want) {
			t.Errorf("TPML(%q) = % x, want % x", tc.in, got, tc.want)
		}
		pcrs, err := ListTPML(l)
		if err != nil {
			t.Fatalf("ListTPML(%q): %v", tc.in, err)
		}
		back, err := Of(pcrs...)
		if err != nil || back != sel {
			t.Errorf("Of(ListTPML(TPML(%q))) = %q, %v", tc.in, back, err)
		}
	}
}

func TestListTPMLOrderAndErrors(t *testing.T) {
	// A TPM lists values in the order of the selection it was given,
	// which need not be ours.
	l := tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
		{Hash: tpm2.TPMAlgSHA256, PCRSelect: []byte{0x02}},
		{Hash: tpm2.TPMAlgSHA1, PCRSelect: []byte{0x00, 0x80}},
	}}
	got, err := ListTPML(l)
	want := []PCR{{SHA256, 1}, {SHA1, 15}}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ListTPML = %v, %v; want %v", got, err, want)
	}
	bad := []tpm2.TPMLPCRSelection{
		{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA3256, PCRSelect: []byte{1}}}},
		{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: []byte{0, 0, 0, 1}}}},
	}
	for _, l := range bad {
		if _, err := ListTPML(l); !errors.Is(err, ErrInvalid) {
			t.Errorf("ListTPML(%v) err = %v, want ErrInvalid", l, err)
		}
	}
}
