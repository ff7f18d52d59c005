package tpmwire

import (
	"encoding/binary"
	"fmt"
)

// Reader reads the big-endian fields of a TPM structure in order. The
// first read past the end sticks as Err and every later read returns
// zero values, so a parser checks once, at the end. It does not allocate
// unless a read fails.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// Take returns the next n bytes (a subslice of the input, its capacity
// cut to n), or nil if fewer remain.
func (r *Reader) Take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("truncated: want %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if v := r.Take(1); v != nil {
		return v[0]
	}
	return 0
}

// U16 reads a big-endian uint16.
func (r *Reader) U16() uint16 {
	if v := r.Take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if v := r.Take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if v := r.Take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Sized2B reads a TPM2B (a 16-bit size, then that many bytes) and
// returns its bytes.
func (r *Reader) Sized2B() []byte { return r.Take(int(r.U16())) }

// Rest returns what remains unread.
func (r *Reader) Rest() []byte { return r.b }

// Len is the number of bytes not yet read.
func (r *Reader) Len() int { return len(r.b) }

// Fail records err as the reader's error, unless it already has one: a
// parser's own finding (a bad tag) ends the parse like a short read.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Err is the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Done is Err, and also fails if bytes remain: for structures of exact
// size.
func (r *Reader) Done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}
