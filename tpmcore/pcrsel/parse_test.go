package pcrsel

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	all := "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23"
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"  \n", ""},
		{"sha256:0,7", "sha256:0,7"},
		{"sha256:0,7\n", "sha256:0,7"},
		{"  sha256:7,0,7 \n", "sha256:0,7"},
		{"sha256:0,7+sha1:1", "sha1:1+sha256:0,7"},
		{"sha1:0,1+sha256:16", "sha1:0,1+sha256:16"},
		{"sha512:23+sm3_256:0+sha384:1", "sha384:1+sha512:23+sm3_256:0"},
		{"SHA256:0", "sha256:0"},
		{"sha256 : 0 , 7 + sha1 : 2", "sha1:2+sha256:0,7"},
		{"sha256:all", "sha256:" + all},
		{"sha256:ALL", "sha256:" + all},
		{"sha256:none", ""},
		{"sha1:none+sha256:3", "sha256:3"},
		{"sha256:0x0,0x7,0x17,0XA", "sha256:0,7,10,23"},
		{"sha256:00,07", "sha256:0,7"},
		{"0xb:1", "sha256:1"},
		{"0xB:1+4:2", "sha1:2+sha256:1"},
		{"0x12:5", "sm3_256:5"},
		{"11:1", "sha256:1"},
		{"sha256:0-7", "sha256:0,1,2,3,4,5,6,7"},
		{"sha256:0-2,7,9-10+sha1:23-23", "sha1:23+sha256:0,1,2,7,9,10"},
		{"sha256:0 - 1", "sha256:0,1"},
		{"sha256:0-23", "sha256:" + all},
	}
	for _, tc := range tests {
		sel, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := sel.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		if sel.IsEmpty() != (tc.want == "") {
			t.Errorf("Parse(%q).IsEmpty() = %v", tc.in, sel.IsEmpty())
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, mention string // mention: the error names the bad part
	}{
		{"sha256", `"sha256"`},
		{"sha256:", "no PCR"},
		{":0", "missing bank"},
		{"md5:0", `"md5"`},
		{"sha3_256:0", `"sha3_256"`},
		{"0x1:0", `"0x1"`},
		{"sha256:24", `"24"`},
		{"sha256:-1", `"-1"`},
		{"sha256:7-0", "backwards"},
		{"sha256:0-24", `"0-24"`},
		{"sha256:0-", `"0-"`},
		{"sha256:1-2-3", `"1-2-3"`},
		{"sha256:0x18", `"0x18"`},
		{"sha256:08", "octal"},
		{"sha256:010", "octal"},
		{"sha256:0,,7", "empty PCR"},
		{"sha256:0,", "empty PCR"},
		{"sha256:seven", `"seven"`},
		{"sha256:0x", `"0x"`},
		{"sha256:1+", `""`},
		{"+sha256:1", `""`},
		{"sha256:1+sha256:2", "sha256 selected twice"},
		{"sha256:1+0xb:2", "sha256 selected twice"},
		{"sha256:none+sha256:1", "sha256 selected twice"},
		{"sha256:all,1", `"all"`},
		{"sha256:99999999999999999999", "sha256:99999999999999999999"},
		{"sha256:0\n7", `"0\n7"`},
	}
	for _, tc := range tests {
		sel, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want error", tc.in, sel)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v is not ErrInvalid", tc.in, err)
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Parse(%q) error %q does not mention %q", tc.in, err, tc.mention)
		}
	}
}

func TestSelectionAccessors(t *testing.T) {
	sel, err := Parse("sha256:7,0+sha1:23+sha512:3")
	if err != nil {
		t.Fatal(err)
	}
	wantPCRs := []PCR{{SHA1, 23}, {SHA256, 0}, {SHA256, 7}, {SHA512, 3}}
	got := sel.PCRs()
	if len(got) != len(wantPCRs) {
		t.Fatalf("PCRs() = %v, want %v", got, wantPCRs)
	}
	for i := range got {
		if got[i] != wantPCRs[i] {
			t.Errorf("PCRs()[%d] = %v, want %v", i, got[i], wantPCRs[i])
		}
		if !sel.Has(wantPCRs[i]) {
			t.Errorf("Has(%v) = false", wantPCRs[i])
		}
	}
	if sel.Has(PCR{SHA256, 1}) || sel.Has(PCR{SHA384, 3}) || sel.Has(PCR{SHA256, 99}) {
		t.Error("Has reports an unselected PCR")
	}
	if n := sel.Len(); n != 4 {
		t.Errorf("Len() = %d, want 4", n)
	}
	if b := sel.Banks(); len(b) != 3 || b[0] != SHA1 || b[1] != SHA256 || b[2] != SHA512 {
		t.Errorf("Banks() = %v", b)
	}
	if ix := sel.Indices(SHA256); len(ix) != 2 || ix[0] != 0 || ix[1] != 7 {
		t.Errorf("Indices(sha256) = %v", ix)
	}
	built, err := Of(wantPCRs[3], wantPCRs[0], wantPCRs[2], wantPCRs[1], wantPCRs[1])
	if err != nil || built != sel {
		t.Errorf("Of(...) = %q, %v; want %q", built, err, sel)
	}
	rest := sel.Minus(Selection{})
	if rest != sel {
		t.Errorf("Minus(empty) changed the selection")
	}
	one, _ := Of(PCR{SHA256, 7})
	if got := sel.Minus(one).String(); got != "sha1:23+sha256:0+sha512:3" {
		t.Errorf("Minus(sha256:7) = %q", got)
	}
	if _, err := Of(PCR{SHA256, 24}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Of(sha256:24) err = %v", err)
	}
	if _, err := Of(PCR{Bank{Name: "md5", Alg: 0x0005}, 0}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Of(md5:0) err = %v", err)
	}
	if s := (PCR{SM3256, 5}).String(); s != "sm3_256:5" {
		t.Errorf("PCR.String() = %q", s)
	}
}
