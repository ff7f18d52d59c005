package fs

import (
	"bytes"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

// digestRE is the contract's digest syntax, written independently of the
// parser: surrounding blanks and newlines, an optional 0x, hex digits.
var digestRE = regexp.MustCompile(`^[ \t\r\n]*(?:0[xX])?([0-9a-fA-F]*)[ \t\r\n]*$`)

var digestSizes = []int{20, 32, 48, 64}

// FuzzParseDigest checks parseDigest against the contract's syntax, and
// digestPrefix against parseDigest: every prefix of a valid digest write
// is accepted (echo may arrive in pieces), and a write that the prefix
// check accepts and that ends in a blank (when pcr.go extends at once)
// parses.
func FuzzParseDigest(f *testing.F) {
	f.Add(strings.Repeat("ab", 32)+"\n", uint8(1))
	f.Add("0x"+strings.Repeat("AB", 20), uint8(0))
	f.Add("  0X"+strings.Repeat("0f", 48)+" \r\n", uint8(2))
	f.Add(strings.Repeat("a", 127), uint8(3))
	f.Add("0", uint8(1))
	f.Add("0x\n", uint8(1))
	f.Add("zz", uint8(1))
	f.Add(" \n", uint8(1))
	f.Fuzz(func(t *testing.T, s string, sz uint8) {
		size := digestSizes[int(sz)%len(digestSizes)]
		got, err := parseDigest(s, size)
		var want []byte
		if m := digestRE.FindStringSubmatch(s); m != nil && len(m[1]) == 2*size {
			want, _ = hex.DecodeString(m[1])
		}
		switch {
		case want == nil && err == nil:
			t.Fatalf("parseDigest(%q, %d) = %x, want an error", s, size, got)
		case want != nil && err != nil:
			t.Fatalf("parseDigest(%q, %d): %v, want %x", s, size, err, want)
		case !bytes.Equal(got, want):
			t.Fatalf("parseDigest(%q, %d) = %x, want %x", s, size, got, want)
		}
		if want != nil {
			for i := 0; i <= len(s); i++ {
				if err := digestPrefix(s[:i], size); err != nil {
					t.Fatalf("digestPrefix(%q, %d), a prefix of a valid digest: %v", s[:i], size, err)
				}
			}
		}
		ends := len(s) > 0 && strings.ContainsRune(" \t\r\n", rune(s[len(s)-1]))
		if ends && strings.Trim(s, " \t\r\n") != "" && digestPrefix(s, size) == nil && err != nil {
			t.Fatalf("digestPrefix accepts %q, which ends the digest, but parseDigest says %v", s, err)
		}
	})
}
