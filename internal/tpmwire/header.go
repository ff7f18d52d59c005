package tpmwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// HeaderSize is the length of the header: tag, size, code.
const HeaderSize = 10

// MaxSize is the largest command or response tpmfs moves, as the Linux
// driver's TPM_BUFSIZE.
const MaxSize = 4096

// ErrSize marks a command or response whose length disagrees with its
// header, or lies outside HeaderSize and MaxSize.
var ErrSize = errors.New("TPM frame size out of range")

// Header is the start of a command or a response.
type Header struct {
	Tag  uint16
	Size uint32 // of the whole command or response, header included
	Code uint32 // command code (TPM 1.2: ordinal) or response code
}

// ParseHeader reads the header at the start of b; ok is false when b is
// shorter than a header.
func ParseHeader(b []byte) (h Header, ok bool) {
	if len(b) < HeaderSize {
		return Header{}, false
	}
	return Header{
		Tag:  binary.BigEndian.Uint16(b[0:2]),
		Size: binary.BigEndian.Uint32(b[2:6]),
		Code: binary.BigEndian.Uint32(b[6:10]),
	}, true
}

// Append appends the header's bytes to b.
func (h Header) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, h.Tag)
	b = binary.BigEndian.AppendUint32(b, h.Size)
	return binary.BigEndian.AppendUint32(b, h.Code)
}

// Code returns the command or response code of b, if b holds a header.
func Code(b []byte) (uint32, bool) {
	h, ok := ParseHeader(b)
	return h.Code, ok
}

// Check accepts b only as a whole command or response: a header whose
// size field equals len(b), within HeaderSize and MaxSize. Anything else
// would make a TPM wait for more bytes or put a stream out of step.
func Check(b []byte) error {
	if len(b) < HeaderSize || len(b) > MaxSize {
		return fmt.Errorf("%w: %d bytes, want %d to %d", ErrSize, len(b), HeaderSize, MaxSize)
	}
	if h, _ := ParseHeader(b); h.Size != uint32(len(b)) {
		return fmt.Errorf("%w: header says %d bytes but has %d", ErrSize, h.Size, len(b))
	}
	return nil
}

// FrameSize returns the size a header announces, checked to lie within
// HeaderSize and limit, so that a stream reader knows how much more to
// read.
func FrameSize(hdr []byte, limit int) (int, error) {
	h, ok := ParseHeader(hdr)
	if !ok {
		return 0, fmt.Errorf("%w: %d bytes, shorter than a header", ErrSize, len(hdr))
	}
	if h.Size < HeaderSize || uint64(h.Size) > uint64(limit) {
		return 0, fmt.Errorf("%w: header says %d bytes, want %d to %d", ErrSize, h.Size, HeaderSize, limit)
	}
	return int(h.Size), nil
}

// ReadFrame reads one command or response from a stream: its header,
// then the rest its size field announces, at most limit bytes in all. A
// size out of range is ErrSize; the stream's own errors come back
// wrapped (io.EOF when it ended before a header began).
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	hdr := make([]byte, HeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	n, err := FrameSize(hdr, limit)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	copy(b, hdr)
	if _, err := io.ReadFull(r, b[HeaderSize:]); err != nil {
		return nil, fmt.Errorf("read %d bytes after the header: %w", n-HeaderSize, err)
	}
	return b, nil
}
