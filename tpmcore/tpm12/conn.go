package tpm12

import (
	"errors"
	"fmt"
	"io"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
)

// ordFlushSpecific is TPM_ORD_FlushSpecific.
const ordFlushSpecific uint32 = 0x000000BA

// conn adapts a transport.TPM to the io.ReadWriter that go-tpm's TPM 1.2
// package drives, and keeps the first TPM error of the call: go-tpm turns
// response codes into an unexported type, and its deferred session
// flushes would otherwise hide the code that mattered.
type conn struct {
	t     transport.TPM
	rsp   []byte
	first RC
}

func newConn(t transport.TPM) *conn { return &conn{t: t} }

// Write sends one whole command, as go-tpm writes them.
func (c *conn) Write(cmd []byte) (int, error) {
	c.rsp = nil
	rsp, err := c.t.Send(cmd)
	if err != nil {
		return 0, err
	}
	code, ok := tpmwire.Code(rsp)
	if !ok {
		return 0, fmt.Errorf("TPM 1.2 response of %d bytes, shorter than a header", len(rsp))
	}
	c.rsp = rsp
	// Flushes of sessions the TPM already closed fail by design; their
	// codes say nothing about the operation.
	if ord, _ := tpmwire.Code(cmd); c.first == 0 && code != 0 && ord != ordFlushSpecific {
		c.first = RC(code)
	}
	return len(cmd), nil
}

// Read returns the response in one piece: go-tpm reads it with a single
// Read and treats any error, io.EOF included, as failure.
func (c *conn) Read(p []byte) (int, error) {
	if len(c.rsp) == 0 {
		return 0, io.EOF
	}
	if len(p) < len(c.rsp) {
		return 0, io.ErrShortBuffer
	}
	n := copy(p, c.rsp)
	c.rsp = nil
	return n, nil
}

// fail wraps err from a go-tpm call made over c with op as context.
func (c *conn) fail(op string, err error) error {
	var rc RC
	if errors.As(err, &rc) {
		// Already classified by this package.
		return fmt.Errorf("%s: %w", op, err)
	}
	return wrap(op, c.first, err)
}
