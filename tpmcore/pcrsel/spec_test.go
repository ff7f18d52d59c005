package pcrsel

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	h32 := strings.Repeat("ab", 32)
	h20 := strings.Repeat("0c", 20)
	tests := []struct {
		in, want, given string
	}{
		{"", "", ""},
		{"sha256:0,7", "sha256:0,7", ""},
		{"sha256:16=" + h32, "sha256:16=" + h32, "sha256:16"},
		{"sha256:16=" + strings.ToUpper(h32) + "\n", "sha256:16=" + h32, "sha256:16"},
		{"sha256:16=0x" + h32, "sha256:16=" + h32, "sha256:16"},
		{" sha256 : 7 = " + h32 + " , 0 ", "sha256:0,7=" + h32, "sha256:7"},
		{"sha256:0,7=" + h32 + "+sha1:16=" + h20, "sha1:16=" + h20 + "+sha256:0,7=" + h32, "sha1:16+sha256:7"},
		{"sha256:0,0,7=" + h32, "sha256:0,7=" + h32, "sha256:7"},
		{"0xb:11=" + h32, "sha256:11=" + h32, "sha256:11"},
		{"sha256:0-2,7=" + h32, "sha256:0,1,2,7=" + h32, "sha256:7"},
	}
	for _, tc := range tests {
		spec, err := ParseSpec(tc.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if got := spec.String(); got != tc.want {
			t.Errorf("ParseSpec(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		if got := spec.Given().String(); got != tc.given {
			t.Errorf("ParseSpec(%q).Given() = %q, want %q", tc.in, got, tc.given)
		}
		back, err := ParseSpec(spec.String())
		if err != nil || !back.Equal(spec) {
			t.Errorf("ParseSpec(%q) reparsed as %v, %v", spec, back, err)
		}
	}
	spec, _ := ParseSpec("sha256:7=" + h32 + ",0")
	if d, ok := spec.Value(PCR{SHA256, 7}); !ok || !bytes.Equal(d, bytes.Repeat([]byte{0xab}, 32)) {
		t.Errorf("Value(sha256:7) = %x, %v", d, ok)
	}
	if _, ok := spec.Value(PCR{SHA256, 0}); ok {
		t.Error("Value(sha256:0) given, but it was listed without one")
	}
	// Nothing a caller gets aliases the spec.
	d, _ := spec.Value(PCR{SHA256, 7})
	d[0] = 0
	spec.Values()[0].Digest[1] = 0
	if again, _ := spec.Value(PCR{SHA256, 7}); again[0] != 0xab || again[1] != 0xab {
		t.Error("Value or Values returned the spec's own bytes")
	}
	if spec.Selection().String() != "sha256:0,7" || SpecOf(spec.Selection()).String() != "sha256:0,7" {
		t.Errorf("Selection() = %q", spec.Selection())
	}
}

func TestParseSpecErrors(t *testing.T) {
	h32 := strings.Repeat("ab", 32)
	tests := []struct {
		in, mention string
	}{
		{"sha256:7=", "64 hex digits"},
		{"sha256:7=" + h32[:62], "64 hex digits"},
		{"sha256:7=" + h32 + "00", "64 hex digits"},
		{"sha256:7=" + h32[:62] + "zz", "not hex"},
		{"sha1:7=" + h32, "40 hex digits"},
		{"sha256:7=" + h32 + ",7", "listed twice"},
		{"sha256:7,7=" + h32, "listed twice"},
		{"sha256:7=" + h32 + ",7=" + h32, "listed twice"},
		{"sha256:=" + h32, "empty PCR"},
		{"sha256:24=" + h32, `"24"`},
		{"sha256:all=" + h32, `"all"`},
		{"sha256:7=" + h32 + "=" + h32, "hex"},
		{"sha256:0-7=" + h32, "a value is for one PCR"},
		{"sha256:7=" + h32 + ",0-7", "listed twice"},
	}
	for _, tc := range tests {
		spec, err := ParseSpec(tc.in)
		if err == nil {
			t.Errorf("ParseSpec(%q) = %q, want error", tc.in, spec)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ParseSpec(%q) error %q, want ErrInvalid mentioning %q", tc.in, err, tc.mention)
		}
	}
	// Parse, for plain selections, refuses values.
	if _, err := Parse("sha256:7=" + h32); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("Parse with a value: %v", err)
	}
}

// TestSpecLongest bounds the canonical form: every PCR of every bank with
// a value.
func TestSpecLongest(t *testing.T) {
	var b strings.Builder
	for n, bank := range Banks() {
		if n > 0 {
			b.WriteByte('+')
		}
		b.WriteString(bank.Name + ":")
		for i := range NumPCRs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(i) + "=" + strings.Repeat("f", 2*bank.Size))
		}
	}
	spec, err := ParseSpec(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spec.String()); n > MaxSpecLen {
		t.Errorf("longest canonical spec is %d bytes, MaxSpecLen %d", n, MaxSpecLen)
	}
}
