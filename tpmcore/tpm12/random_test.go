package tpm12

import (
	"bytes"
	"compress/flate"
	"testing"
)

func TestRandom(t *testing.T) {
	tr := startSwtpm12(t, owned)
	for _, n := range []int{1, randomChunk, randomChunk + 1, 3000} {
		a, b := make([]byte, n), make([]byte, n)
		if err := Random(tr, a); err != nil {
			t.Fatal(err)
		}
		if err := Random(tr, b); err != nil {
			t.Fatal(err)
		}
		// Two draws of 8 bytes or more colliding means no randomness.
		if n >= 8 && bytes.Equal(a, b) {
			t.Fatalf("two draws of %d bytes are equal: %x", n, a)
		}
		// A filled buffer has no run of zeros longer than chance allows
		// (16 zero bytes in a row: probability ~2^-128 per position).
		if n >= 16 && bytes.Contains(a, make([]byte, 16)) {
			t.Fatalf("draw of %d bytes has 16 zero bytes in a row", n)
		}
	}
	// Random data does not compress.
	p := make([]byte, 3000)
	if err := Random(tr, p); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(p)
	w.Close()
	if z.Len() < len(p) {
		t.Fatalf("3000 random bytes compress to %d", z.Len())
	}
	if err := Random(tr, nil); err != nil {
		t.Fatalf("Random(nil) = %v", err)
	}
}
