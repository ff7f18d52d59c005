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

// FuzzParseSpec checks that whatever ParseSpec accepts prints in a
// canonical form that parses back equal and is a fixed point, within
// MaxSpecLen, that every given value is a whole digest of a selected PCR,
// and that every rejection wraps ErrInvalid. Parse accepts exactly the
// specs without values.
func FuzzParseSpec(f *testing.F) {
	h32 := "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"
	for _, s := range []string{"", "sha256:0,7", "sha256:16=" + h32, "sha256:0,7=0X" + h32 + "+sha1:1",
		"sha1:16=" + h32[:40], "sha256:7=" + h32 + ",7", "sha256:7=zz", "sha256:all", "sha256:7 = " + h32 + " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		spec, err := ParseSpec(in)
		plain, perr := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseSpec(%q) error %v does not wrap ErrInvalid", in, err)
			}
			if perr == nil {
				t.Fatalf("Parse(%q) accepts what ParseSpec refuses: %v", in, err)
			}
			return
		}
		if (perr == nil) != spec.Given().IsEmpty() || (perr == nil && plain != spec.Selection()) {
			t.Fatalf("Parse(%q) = %q, %v; ParseSpec gives %q", in, plain, perr, spec)
		}
		canon := spec.String()
		if len(canon) > MaxSpecLen {
			t.Fatalf("ParseSpec(%q) canonical form is %d bytes", in, len(canon))
		}
		back, err := ParseSpec(canon)
		if err != nil || !back.Equal(spec) || back.String() != canon {
			t.Fatalf("ParseSpec(%q) = %q, reparsed as %q, %v", in, canon, back, err)
		}
		for _, v := range spec.Values() {
			if !spec.Selection().Has(v.PCR) || len(v.Digest) != v.Bank.Size {
				t.Fatalf("ParseSpec(%q): value %s of %d bytes", in, v.PCR, len(v.Digest))
			}
		}
	})
}
