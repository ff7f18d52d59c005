package tpmcore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// A raw client's Write and Read behave as write(2) and read(2) on the
// kernel's /dev/tpmrm0; the refusals reach nothing below.
func TestClientWriteRead(t *testing.T) {
	c := newSimCore(t)
	cl, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	getRandom := commandBytes(func(c *captured) { tpm2.GetRandom{BytesRequested: 16}.Execute(c) })

	if _, err := cl.Write(ctx, make([]byte, MaxCommand+1)); !errors.Is(err, ErrCommandTooLarge) {
		t.Errorf("Write of %d bytes = %v, want ErrCommandTooLarge", MaxCommand+1, err)
	}
	short := bytes.Clone(getRandom)
	binary.BigEndian.PutUint32(short[2:6], uint32(len(short)+1))
	if _, err := cl.Write(ctx, short); !errors.Is(err, ErrInvalid) {
		t.Errorf("Write shorter than its header = %v, want ErrInvalid", err)
	}
	if _, err := cl.Write(ctx, getRandom[:9]); !errors.Is(err, ErrInvalid) {
		t.Errorf("Write of 9 bytes = %v, want ErrInvalid", err)
	}
	if n := cl.Read(make([]byte, 64)); n != 0 {
		t.Errorf("Read after refused writes = %d bytes, want none", n)
	}

	// Bytes past what the header announces are not part of the command.
	data := append(bytes.Clone(getRandom), "trailing"...)
	if n, err := cl.Write(ctx, data); err != nil || n != len(data) {
		t.Fatalf("Write with trailing bytes = %d, %v, want %d", n, err, len(data))
	}
	if _, err := cl.Write(ctx, getRandom); !errors.Is(err, ErrResponseUnread) {
		t.Errorf("Write with a response unread = %v, want ErrResponseUnread", err)
	}
	// The response in parts: 10-byte header, 2-byte size, 16 random bytes.
	hdr := make([]byte, 6)
	if n := cl.Read(hdr); n != 6 {
		t.Fatalf("Read of 6 = %d", n)
	}
	rest := make([]byte, 100)
	n := cl.Read(rest)
	rsp := append(hdr, rest[:n]...)
	if len(rsp) != 28 || binary.BigEndian.Uint32(rsp[2:6]) != 28 || binary.BigEndian.Uint32(rsp[6:10]) != 0 {
		t.Fatalf("GetRandom(16) response %x, want 28 bytes of success", rsp)
	}
	if n := cl.Read(rest); n != 0 {
		t.Errorf("Read past the response = %d bytes", n)
	}
	if _, err := cl.Write(ctx, getRandom); err != nil {
		t.Errorf("Write once the response is read: %v", err)
	}
}
