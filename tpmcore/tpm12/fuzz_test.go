package tpm12

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"slices"
	"testing"
)

// sealedSeed builds a TPM_STORED_DATA12 bound to PCRs 0 and 16.
func sealedSeed() []byte {
	d := sha1.Sum([]byte("d"))
	info := []byte{0, 6, 1, 0x1F, 0, 3, 1, 0, 1, 0, 3, 1, 0, 1}
	info = append(info, d[:]...)
	info = append(info, d[:]...)
	b := []byte{0, 0x16, 0, 1}
	b = binary.BigEndian.AppendUint32(b, uint32(len(info)))
	b = append(b, info...)
	b = binary.BigEndian.AppendUint32(b, 4)
	return append(b, 1, 2, 3, 4)
}

func FuzzParseSealed(f *testing.F) {
	f.Add(sealedSeed())
	f.Add([]byte{0, 0x16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := parseSealed(b)
		if err != nil {
			return
		}
		if !slices.IsSorted(si.PCRs) || len(si.PCRs) > maxSelectSize*8 {
			t.Fatalf("PCRs %v", si.PCRs)
		}
		if len(si.PCRs) > 0 && !bytes.Contains(b, si.Digest[:]) {
			t.Fatalf("digest %x not from the input", si.Digest)
		}
	})
}

func TestParseSealedSeed(t *testing.T) {
	si, err := parseSealed(sealedSeed())
	if err != nil {
		t.Fatal(err)
	}
	d := sha1.Sum([]byte("d"))
	if !slices.Equal(si.PCRs, []int{0, 16}) || si.Digest != d || si.LocalityAtRelease != 0x1F {
		t.Fatalf("parseSealed = %+v", si)
	}
}

func FuzzParseVersionInfo(f *testing.F) {
	f.Add([]byte{0, 0x30, 1, 2, 18, 158, 0, 2, 3, 'I', 'B', 'M', 0, 0, 0})
	f.Add([]byte{0, 0x30, 1, 2, 0, 0, 0, 2, 3, 'I', 'F', 'X', 0, 0, 2, 7, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVersionInfo(b)
		if err != nil {
			return
		}
		if 15+len(v.vendorSpecific) != len(b) {
			t.Fatalf("%d vendor bytes from %d input bytes", len(v.vendorSpecific), len(b))
		}
	})
}

func FuzzParseHandleList(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 2, 2, 0, 0, 1, 2, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := parseHandleList(b)
		if err != nil {
			return
		}
		if 2+4*len(hs) != len(b) {
			t.Fatalf("%d handles from %d bytes", len(hs), len(b))
		}
	})
}
