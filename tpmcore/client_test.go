package tpmcore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/google/go-tpm/tpm2/transport"
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

// sessionsIn lists the TPM's sessions of one GetCapability range:
// TPM_HT_LOADED_SESSION (0x02) lists loaded ones, TPM_HT_SAVED_SESSION
// (0x03) saved ones, which the TPM names in the HMAC range whatever
// their type. Asked through the queue with go-tpm's own command.
func sessionsIn(t *testing.T, c *Core, first uint32) []tpm2.TPMHandle {
	t.Helper()
	var hs []tpm2.TPMHandle
	err := c.q.do(context.Background(), func(tpm transport.TPM) error {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: 64}.Execute(tpm)
		if err != nil {
			return err
		}
		l, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return err
		}
		for _, h := range l.Handle {
			if ht := uint32(h) >> 24; ht == 0x02 || ht == 0x03 {
				hs = append(hs, h)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list sessions %#x: %v", first, err)
	}
	return hs
}

// Closing a raw client flushes what its space holds: sessions its
// commands started, which the resource manager keeps in the TPM between
// commands (loaded while slots allow, else saved), are neither loaded
// nor saved once the clients close.
func TestClientCloseFlushesSessions(t *testing.T) {
	c := newSimCore(t)
	const (
		loadedSession = 0x02000000
		savedSession  = 0x03000000
	)
	var clients []*Client
	for i := range 5 {
		cl, err := c.NewClient(0)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		// An unsalted, unbound HMAC session, left for the close to end.
		_, _, err = tpm2.HMACSession(clientTPM{cl}, tpm2.TPMAlgSHA256, 16)
		if err != nil {
			t.Fatalf("client %d: HMAC session: %v", i, err)
		}
	}
	// Between commands the sessions are in the TPM, loaded or saved.
	if hs := append(sessionsIn(t, c, savedSession), sessionsIn(t, c, loadedSession)...); len(hs) != 5 {
		t.Fatalf("with 5 clients open the TPM holds sessions %x, want 5", hs)
	}
	for _, cl := range clients {
		if err := cl.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if hs := sessionsIn(t, c, loadedSession); len(hs) != 0 {
		t.Errorf("loaded sessions after the clients closed: %x", hs)
	}
	if hs := sessionsIn(t, c, savedSession); len(hs) != 0 {
		t.Errorf("saved sessions after the clients closed: %x", hs)
	}
}
