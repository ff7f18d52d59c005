package tpmcore

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"tpmfs/internal/tpmwire"
)

// MaxCommand is the largest raw command a client may send.
const MaxCommand = tpmwire.MaxSize

// Client is one raw command channel (one open of tpmrm0). On a TPM 2.0
// it is a resource manager space, so its transient objects and sessions
// are its own (client20.go); on a TPM 1.2 it is a plain passthrough
// (client12.go).
//
// Write and Read give it the semantics of a write(2) and read(2) on the
// kernel's /dev/tpmrm0: one whole command per Write, its response kept
// until Read has taken all of it.
type Client struct {
	c      *Core
	ch     rawChannel
	mu     sync.Mutex
	closed bool
	rsp    []byte // unread rest of the last response
}

// NewClient opens a raw channel for the caller uid, whom the resource
// manager's rules (Options.RawRules) hold to a command policy and quota
// unless it is an admin; past its quota of open channels it gets
// ErrTooManyOpen. On a TPM 1.2 there is one at a time: a second fails
// with ErrBusy until the first is closed.
func (c *Core) NewClient(uid uint32) (*Client, error) {
	ch, err := c.fam.openRaw(uid)
	if err != nil {
		return nil, err
	}
	return &Client{c: c, ch: ch}, nil
}

// Write takes one command as a write(2) to /dev/tpmrm0 does and keeps
// the TPM's response for Read. Only the bytes the command's header
// announces form the command; the rest of data is ignored, as the kernel
// ignores it. It refuses, before anything reaches the TPM, data longer
// than MaxCommand (ErrCommandTooLarge), shorter than its header says
// (ErrInvalid), and a command while the last response is unread
// (ErrResponseUnread). It returns len(data).
func (cl *Client) Write(ctx context.Context, data []byte) (int, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.rsp) > 0 {
		return 0, fmt.Errorf("raw command: %w", ErrResponseUnread)
	}
	if len(data) > MaxCommand {
		return 0, fmt.Errorf("raw command of %d bytes: %w (at most %d)", len(data), ErrCommandTooLarge, MaxCommand)
	}
	h, ok := tpmwire.ParseHeader(data)
	if !ok || uint64(h.Size) > uint64(len(data)) {
		return 0, fmt.Errorf("raw command of %d bytes: %w: shorter than its header says", len(data), ErrInvalid)
	}
	rsp, err := cl.transmit(ctx, bytes.Clone(data[:h.Size]))
	if err != nil {
		return 0, fmt.Errorf("raw command %#x: %w", h.Code, err)
	}
	cl.rsp = rsp
	return len(data), nil
}

// Read copies the unread rest of the last response into p and returns
// how many bytes it copied: 0 when nothing is left.
func (cl *Client) Read(p []byte) int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	n := copy(p, cl.rsp)
	cl.rsp = cl.rsp[n:]
	if len(cl.rsp) == 0 {
		cl.rsp = nil
	}
	return n
}

// Transmit runs one command in the client's space and returns the TPM's
// response. Malformed commands get a TPM error response; the error is
// only for an unreachable TPM.
func (cl *Client) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	rsp, err := cl.transmit(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("raw command: %w", err)
	}
	return rsp, nil
}

// transmit runs cmd; the caller holds mu.
func (cl *Client) transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if cl.closed {
		return nil, ErrClosed
	}
	ctx, cancel := cl.c.rawContext(ctx, cmd)
	defer cancel()
	return cl.ch.transmit(ctx, cmd)
}

// Close releases the channel: on a TPM 2.0 it flushes everything the
// client's space holds in the TPM.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return nil
	}
	cl.closed = true
	cl.rsp = nil
	return cl.ch.close()
}
