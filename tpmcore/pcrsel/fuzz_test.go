package pcrsel

import (
	"errors"
	"testing"
)

// FuzzParse checks that whatever Parse accepts prints in a canonical form
// that parses back equal and is a fixed point, that TPML lists the same
// PCRs, and that every rejection wraps ErrInvalid.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "sha256:0,7", "sha1:0,1+sha256:16\n", "sha256:all",
		"sha1:none+0xb:0x17", "sha256:07", "sha256:08", "SM3_256:3 + sha512:2,2", "md5:1", "sha256:1+sha256:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sel, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", in, err)
			}
			return
		}
		canon := sel.String()
		back, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", in, canon, err)
		}
		if back != sel || back.String() != canon {
			t.Fatalf("Parse(%q) = %q, reparsed as %q", in, canon, back)
		}
		pcrs, err := ListTPML(sel.TPML())
		if err != nil {
			t.Fatalf("ListTPML(TPML(%q)): %v", canon, err)
		}
		if len(pcrs) != sel.Len() {
			t.Fatalf("TPML(%q) lists %d PCRs, Len is %d", canon, len(pcrs), sel.Len())
		}
		for i, p := range sel.PCRs() {
			if pcrs[i] != p || !sel.Has(p) {
				t.Fatalf("TPML(%q)[%d] = %v, PCRs()[%d] = %v", canon, i, pcrs[i], i, p)
			}
		}
	})
}
