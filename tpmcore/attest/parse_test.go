package attest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	good := []struct {
		in, sel, nonce string
	}{
		{"sha256:0-7 nonce=abcd\n", "sha256:0,1,2,3,4,5,6,7", "abcd"},
		{"nonce=0xABCD sha1:0+sha256:16", "sha1:0+sha256:16", "abcd"},
		{"  sha256:7  \r\n", "sha256:7", ""},
		{"sha256:all nonce=", "sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23", ""},
		{"sha256:0 nonce=" + strings.Repeat("ff", MaxNonce), "sha256:0", strings.Repeat("ff", MaxNonce)},
	}
	for _, tc := range good {
		sel, nonce, err := ParseRequest(tc.in)
		if err != nil {
			t.Errorf("ParseRequest(%q): %v", tc.in, err)
			continue
		}
		if sel.String() != tc.sel || hexString(nonce) != tc.nonce {
			t.Errorf("ParseRequest(%q) = %s, %x", tc.in, sel, nonce)
		}
	}
	bad := []string{
		"", "\n", "nonce=ab", "sha256:none nonce=ab", "sha256:24", "sha256:0 nonce=abc", "sha256:0 nonce=zz",
		"sha256:0 nonce=ab nonce=cd", "sha256:0 sha1:0", "sha256:0\nsha1:1", "sha256:0 nonce=" + strings.Repeat("ff", MaxNonce+1),
		"sha256:0 extra", "sha256:0\x00", strings.Repeat("x", MaxRequest+1), "md5:0 nonce=00",
	}
	for _, in := range bad {
		if sel, _, err := ParseRequest(in); !errors.Is(err, ErrRequest) {
			t.Errorf("ParseRequest(%q) = %s, %v; want ErrRequest", in, sel, err)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func credFile(id, secret []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, credMagic)
	b = binary.BigEndian.AppendUint32(b, credVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
	b = append(b, id...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(secret)))
	return append(b, secret...)
}

func TestParseCredential(t *testing.T) {
	file := credFile([]byte("identity object"), bytes.Repeat([]byte{7}, 256))
	// Every proper prefix is incomplete, not wrong: a writer may send
	// the file in pieces.
	for n := 0; n < len(file); n++ {
		c, complete, err := ParseCredential(file[:n])
		if err != nil || complete || c != nil {
			t.Fatalf("prefix of %d bytes: %v %v %v", n, c, complete, err)
		}
	}
	c, complete, err := ParseCredential(file)
	if err != nil || !complete || string(c.IDObject) != "identity object" || len(c.Secret) != 256 {
		t.Fatalf("whole file: %+v %v %v", c, complete, err)
	}
	for name, b := range map[string][]byte{
		"trailing byte":  append(append([]byte(nil), file...), 0),
		"wrong magic":    append([]byte{0xba, 0xdc, 0xc0, 0xdf}, file[4:]...),
		"wrong version":  append(append([]byte(nil), file[:4]...), append([]byte{0, 0, 0, 2}, file[8:]...)...),
		"empty id":       credFile(nil, []byte{1}),
		"empty secret":   credFile([]byte{1}, nil),
		"far too large":  make([]byte, MaxCredential+1),
		"garbage prefix": []byte("GET / HTTP/1.0\r\n"),
	} {
		if _, _, err := ParseCredential(b); !errors.Is(err, ErrCredential) {
			t.Errorf("%s: %v, want ErrCredential", name, err)
		}
	}
}

func TestSerializedLayout(t *testing.T) {
	q := &Quote{Selection: mustSel("sha1:1+sha256:0-8")}
	for i := 0; i < 10; i++ {
		size := 32
		if i == 0 {
			size = 20
		}
		q.Values = append(q.Values, pcrValue(size, byte(i)))
	}
	b := q.Serialized()
	if len(b) != 132+4+2*532 {
		t.Fatalf("%d bytes", len(b))
	}
	le32 := func(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	if le32(0) != 2 || b[4] != 0x04 || b[5] != 0 || b[6] != 3 || b[7] != 2 || b[12] != 0x0b || b[14] != 3 || b[15] != 0xff || b[16] != 1 {
		t.Errorf("selection % x", b[:20])
	}
	if le32(132) != 2 || le32(136) != 8 || le32(136+532) != 2 {
		t.Errorf("digest lists: %d lists of %d and %d", le32(132), le32(136), le32(136+532))
	}
	if binary.LittleEndian.Uint16(b[140:]) != 20 || b[142] != 0 || binary.LittleEndian.Uint16(b[140+66:]) != 32 || b[142+66] != 1 {
		t.Errorf("first digests % x", b[140:150])
	}
}
