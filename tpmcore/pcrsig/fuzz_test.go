package pcrsig

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: whatever Parse accepts prints (Text) as systemd's layout,
// which parses back to the same text; every rejection wraps ErrInvalid;
// Partial agrees with Parse on whole texts and never calls a prefix of an
// accepted text an error.
func FuzzParse(f *testing.F) {
	fp := "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"
	for _, s := range []string{"", "{}", `{"sha256":[{"pcrs":[11],"pkfp":"` + fp + `","pol":"` + fp + `","sig":"AAEC"}]}`,
		`{"sha1":[],"sha256":[]}`, `{"sha256":[{"pcrs":[11],"pcrs":[1]}]}`, `[1]`, "{\"sha256\":[]}\n{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := Parse(in)
		complete, perr := Partial(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): %v does not wrap ErrInvalid", in, err)
			}
			if complete && perr == nil {
				t.Fatalf("Partial(%q) accepts what Parse refuses: %v", in, err)
			}
			return
		}
		if perr != nil || (!complete && len(bytes.Trim(in, space)) > 0) {
			t.Fatalf("Partial(%q) = %v, %v for an accepted text", in, complete, perr)
		}
		for i := range in {
			if c, err := Partial(in[:i]); err != nil && !c {
				t.Fatalf("Partial(%q) refuses a prefix of an accepted text: %v", in[:i], err)
			}
		}
		text := s.Text()
		back, err := Parse(text)
		if err != nil || !bytes.Equal(back.Text(), text) || len(back.Policies) != len(s.Policies) {
			t.Fatalf("Parse(%q).Text() = %q, reparsed: %v", in, text, err)
		}
	})
}

// FuzzParseKey: an accepted key prints as PEM that reads back to the same
// key; a rejection wraps ErrInvalid; KeyPartial agrees.
func FuzzParseKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := ParseKey(in)
		complete, perr := KeyPartial(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseKey(%q): %v does not wrap ErrInvalid", in, err)
			}
			if complete && perr == nil {
				t.Fatalf("KeyPartial(%q) accepts what ParseKey refuses", in)
			}
			return
		}
		if perr != nil {
			t.Fatalf("KeyPartial(%q) = %v for an accepted key", in, perr)
		}
		back, err := ParseKey(k.PEM())
		if err != nil || !bytes.Equal(back.DER, k.DER) {
			t.Fatalf("ParseKey(%q).PEM() reparsed: %v", in, err)
		}
	})
}
