package latency

import (
	"slices"
	"testing"
)

// FuzzVariant: whatever the command bytes, Variant answers one of the
// variants the table knows, and every profile prices it.
func FuzzVariant(f *testing.F) {
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x7B, 0, 8})
	f.Add([]byte{0x80, 0x02, 0, 0, 0, 10, 0, 0, 1, 0x31})
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 0x76, 0x40, 0, 0, 7, 0x40, 0, 0, 7, 0, 0})
	known := []string{"*", "unsalted", "ecc-salted", "rsa-salted", "ecc", "rsa", "sealed"}
	f.Fuzz(func(t *testing.T, cmd []byte) {
		v := Variant(cmd)
		if !slices.Contains(known, v) {
			t.Fatalf("Variant(%x) = %q", cmd, v)
		}
		for _, name := range Profiles() {
			p, _ := Lookup(name)
			if k, d := New(p).Price(cmd, 0); d <= 0 || k.Variant != v {
				t.Fatalf("%s prices %x at %v as %+v", name, cmd, d, k)
			}
		}
	})
}
