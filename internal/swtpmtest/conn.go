package swtpmtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"tpmfs/internal/tpmwire"
)

// Bounds on talking to swtpm.
const (
	dialTimeout = 5 * time.Second
	sendTimeout = 30 * time.Second // one command and its response
	toolTimeout = time.Minute
	maxResponse = 1 << 16
)

// Conn is a connection to swtpm's data channel, a TPM transport
// (go-tpm's transport.TPM): raw commands, each response sized by its
// header. swtpm serves one connection at a time.
type Conn struct{ c net.Conn }

// Connect opens a connection to s's data channel.
func (s *Swtpm) Connect() (*Conn, error) {
	network, addr := "tcp", "127.0.0.1:"+strconv.Itoa(s.Port)
	if s.Sock != "" {
		network, addr = "unix", s.Sock
	}
	c, err := net.DialTimeout(network, addr, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial swtpm: %w", err)
	}
	return &Conn{c}, nil
}

// Dial is Connect failing the test on error; the connection is closed
// when the test ends.
func (s *Swtpm) Dial(t testing.TB) *Conn {
	t.Helper()
	c, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Send writes one command and reads its response, within sendTimeout.
func (c *Conn) Send(cmd []byte) ([]byte, error) {
	if err := c.c.SetDeadline(time.Now().Add(sendTimeout)); err != nil {
		return nil, err
	}
	if _, err := c.c.Write(cmd); err != nil {
		return nil, err
	}
	return tpmwire.ReadFrame(c.c, maxResponse)
}

// Close closes the connection, freeing swtpm for its next client.
func (c *Conn) Close() error { return c.c.Close() }

// Tool runs a tpm2-tools command against s with stdin and returns its
// stdout, failing the test if the tool fails. A missing tool skips the
// test (see Require). No connection may be open: swtpm serves one.
func (s *Swtpm) Tool(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := s.TryTool(t, stdin, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TryTool is Tool returning the tool's failure, with its stderr.
func (s *Swtpm) TryTool(t testing.TB, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	Require(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, append([]string{"-T", s.TCTI()}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
