package tddl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"tpmfs/internal/tpmwire"
)

// dialTimeout bounds one connection attempt when no deadline is set, so a
// black-holed host cannot hang Send forever.
const dialTimeout = 10 * time.Second

// swtpm is swtpm's socket data channel with raw framing: the command bytes
// go out as they are, and the response is a 10-byte header followed by the
// rest its size field announces (no MS-simulator TCP framing).
//
// Before each command an idle connection that swtpm has closed (it was
// restarted) is replaced by a fresh one, so the command is not lost. After
// an I/O failure during an exchange the connection is dropped and the next
// Send dials again. A failed exchange is never replayed: the TPM may or may
// not have run the command, and only the caller can judge whether
// repeating it is safe. swtpm keeps no per-connection state, so a new
// connection sees the same TPM.
type swtpm struct {
	network, addr string
	ctrlAddr      string // TCP control channel, "" if unknown

	// ctx is cancelled by Close to abort a dial in progress.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	conn     net.Conn // nil: dial on the next Send
	closed   bool
	deadline time.Time
}

func openSwtpm(cfg Config) (TPM, error) {
	s := &swtpm{network: "unix", addr: cfg.Path}
	if cfg.Path == "" {
		if cfg.Port < 1 || cfg.Port > 65535 {
			return nil, fmt.Errorf("open swtpm: %w: bad port %d", ErrBadSource, cfg.Port)
		}
		s.network = "tcp"
		s.addr = net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		// By the tpm2-tss swtpm TCTI convention the control channel
		// listens on the next port.
		if cfg.Port < 65535 {
			s.ctrlAddr = net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port+1))
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// Dial now so that a wrong SOURCE fails at mount, not at first use.
	if _, err := s.connect(); err != nil {
		s.cancel()
		return nil, fmt.Errorf("open swtpm: %w", err)
	}
	return s, nil
}

func (s *swtpm) Send(cmd []byte) ([]byte, error) {
	if err := checkCommand(cmd); err != nil {
		return nil, fmt.Errorf("send to swtpm %s: %w", s.addr, err)
	}
	c, err := s.connect()
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	rsp, err := exchange(c, cmd)
	if err != nil {
		// The stream may hold part of this response: never reuse it.
		s.drop(c)
		if s.isClosed() {
			err = ErrClosed
		}
		return nil, fmt.Errorf("send to swtpm %s: %w", s.addr, err)
	}
	return rsp, nil
}

// connect returns the open connection or dials a new one.
func (s *swtpm) connect() (net.Conn, error) {
	s.mu.Lock()
	c, dl, closed := s.conn, s.deadline, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("swtpm %s: %w", s.addr, ErrClosed)
	case !dl.IsZero() && !time.Now().Before(dl):
		// Fail before touching the connection, which stays usable.
		return nil, fmt.Errorf("swtpm %s: %w", s.addr, os.ErrDeadlineExceeded)
	case c != nil && !peerHungUp(c):
		return c, nil
	case c != nil:
		s.drop(c)
	}
	d := net.Dialer{Timeout: dialTimeout, Deadline: dl}
	c, err := d.DialContext(s.ctx, s.network, s.addr)
	if err != nil {
		if s.ctx.Err() != nil {
			return nil, fmt.Errorf("dial swtpm %s: %w", s.addr, ErrClosed)
		}
		return nil, fmt.Errorf("dial swtpm %s: %w: %w", s.addr, ErrUnreachable, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, fmt.Errorf("swtpm %s: %w", s.addr, ErrClosed)
	}
	if err := c.SetDeadline(s.deadline); err != nil {
		c.Close()
		return nil, fmt.Errorf("swtpm %s: set deadline: %w", s.addr, err)
	}
	s.conn = c
	return c, nil
}

// exchange writes one command and reads one whole response.
func exchange(c net.Conn, cmd []byte) ([]byte, error) {
	if _, err := c.Write(cmd); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	rsp, err := tpmwire.ReadFrame(c, MaxCommandSize)
	switch {
	case errors.Is(err, tpmwire.ErrSize):
		return nil, fmt.Errorf("response: %w: %w", ErrBadResponse, err)
	case err != nil:
		return nil, fmt.Errorf("response: %w", unexpectedEOF(err))
	}
	return rsp, nil
}

// unexpectedEOF turns a clean EOF into io.ErrUnexpectedEOF: the peer hung
// up in the middle of an exchange.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// drop forgets c so that the next Send dials afresh.
func (s *swtpm) drop(c net.Conn) {
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	c.Close()
}

func (s *swtpm) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// SetDeadline bounds Send (dial, write and read) until t; zero clears it.
// It also applies to a Send already in progress.
func (s *swtpm) SetDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	if s.conn != nil {
		if err := s.conn.SetDeadline(t); err != nil {
			return fmt.Errorf("swtpm %s: set deadline: %w", s.addr, err)
		}
	}
	return nil
}

// Close closes the connection, which unblocks a Send in progress.
func (s *swtpm) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	s.cancel()
	if c != nil {
		if err := c.Close(); err != nil {
			return fmt.Errorf("close swtpm %s: %w", s.addr, err)
		}
	}
	return nil
}
