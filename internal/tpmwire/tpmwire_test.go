package tpmwire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func frame(tag uint16, size, code uint32, body int) []byte {
	return append(Header{Tag: tag, Size: size, Code: code}.Append(nil), make([]byte, body)...)
}

func TestParseHeader(t *testing.T) {
	b := []byte{0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 8}
	h, ok := ParseHeader(b)
	if !ok || h != (Header{Tag: 0x8001, Size: 12, Code: 0x17b}) {
		t.Fatalf("ParseHeader = %+v, %v", h, ok)
	}
	if !bytes.Equal(h.Append(nil), b[:HeaderSize]) {
		t.Errorf("Append = %x, want %x", h.Append(nil), b[:HeaderSize])
	}
	if _, ok := ParseHeader(b[:9]); ok {
		t.Error("ParseHeader of 9 bytes: ok")
	}
	if c, ok := Code(b); !ok || c != 0x17b {
		t.Errorf("Code = %#x, %v", c, ok)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"whole", frame(0x8001, 12, 0, 2), true},
		{"header only", frame(0x8001, 10, 0, 0), true},
		{"MaxSize", frame(0x8001, MaxSize, 0, MaxSize-HeaderSize), true},
		{"over MaxSize", frame(0x8001, MaxSize+1, 0, MaxSize+1-HeaderSize), false},
		{"size field too big", frame(0x8001, 13, 0, 2), false},
		{"size field too small", frame(0x8001, 11, 0, 2), false},
		{"shorter than a header", frame(0x8001, 10, 0, 0)[:9], false},
		{"empty", nil, false},
	} {
		err := Check(c.b)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrSize)) {
			t.Errorf("%s: Check = %v, want ok=%v or ErrSize", c.name, err, c.ok)
		}
	}
}

func TestReadFrame(t *testing.T) {
	a, b := frame(0xC4, 14, 0, 4), frame(0x8001, 10, 0x922, 0)
	r := bytes.NewReader(append(append([]byte(nil), a...), b...))
	for _, want := range [][]byte{a, b} {
		got, err := ReadFrame(r, MaxSize)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadFrame = %x, %v, want %x", got, err, want)
		}
	}
	if _, err := ReadFrame(r, MaxSize); !errors.Is(err, io.EOF) {
		t.Errorf("ReadFrame at the end = %v, want io.EOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader(frame(0x8001, 20, 0, 10)), 16); !errors.Is(err, ErrSize) {
		t.Errorf("ReadFrame past the limit = %v, want ErrSize", err)
	}
	if _, err := ReadFrame(bytes.NewReader(frame(0x8001, 9, 0, 0)), MaxSize); !errors.Is(err, ErrSize) {
		t.Errorf("ReadFrame of size 9 = %v, want ErrSize", err)
	}
	if _, err := ReadFrame(bytes.NewReader(frame(0x8001, 20, 0, 4)), MaxSize); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadFrame of a cut frame = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReader(t *testing.T) {
	r := NewReader([]byte{1, 0, 2, 0, 0, 0, 3, 0, 2, 0xaa, 0xbb, 9})
	if v := r.U8(); v != 1 {
		t.Errorf("U8 = %d", v)
	}
	if v := r.U16(); v != 2 {
		t.Errorf("U16 = %d", v)
	}
	if v := r.U32(); v != 3 {
		t.Errorf("U32 = %d", v)
	}
	if v := r.Sized2B(); !bytes.Equal(v, []byte{0xaa, 0xbb}) || cap(v) != 2 {
		t.Errorf("Sized2B = %x (cap %d)", v, cap(v))
	}
	if r.Len() != 1 || r.Done() == nil {
		t.Errorf("one byte left: Len %d, Done %v", r.Len(), r.Done())
	}
	r = NewReader([]byte{0, 5, 1})
	if v := r.Sized2B(); v != nil || r.Err() == nil {
		t.Errorf("Sized2B past the end = %x, err %v", v, r.Err())
	}
	if v := r.U32(); v != 0 {
		t.Errorf("U32 after a failure = %d, want 0", v)
	}
	first := r.Err()
	r.Fail(errors.New("later"))
	if r.Err() != first {
		t.Errorf("Fail replaced the first error")
	}
}

func TestReaderAllocs(t *testing.T) {
	b := []byte{0, 4, 1, 2, 3, 4, 0, 0, 0, 1}
	n := testing.AllocsPerRun(100, func() {
		r := NewReader(b)
		r.Sized2B()
		r.U32()
		if r.Done() != nil {
			t.Fatal("parse failed")
		}
	})
	if n != 0 {
		t.Errorf("a successful parse allocates %v times", n)
	}
}

func TestVendorText(t *testing.T) {
	for in, want := range map[string]string{
		"IBM\x00":          "IBM",
		"STM ":             "STM",
		"SW   TPM\x00\x00": "SW   TPM",
		"\x00\x00":         "",
		"a\nb":             "610a62",
		"\xff\x01":         "ff01",
	} {
		if got := VendorText([]byte(in)); got != want {
			t.Errorf("VendorText(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frame(0x8001, 12, 0x17b, 2))
	f.Add(frame(0x8001, 9, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ReadFrame(bytes.NewReader(b), MaxSize)
		if err != nil {
			return
		}
		if Check(got) != nil || !bytes.HasPrefix(b, got) {
			t.Fatalf("ReadFrame(%x) = %x, not a whole frame from the input", b, got)
		}
	})
}
