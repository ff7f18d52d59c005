package faultinject

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"tpmfs/internal/tpmwire"
	"tpmfs/tddl"
)

// Mode is the fault applied to each Send.
type Mode int

const (
	// PassThrough forwards commands and responses untouched.
	PassThrough Mode = iota
	// DropRequest fails Send with an I/O error; the TPM never sees the
	// command.
	DropRequest
	// DropResponse runs the command on the TPM, then fails Send with an
	// I/O error: the caller cannot tell whether it ran.
	DropResponse
	// Truncate returns the first half of the response, so it is shorter
	// than its header's size field.
	Truncate
	// Corrupt flips every byte after the size field (response code and
	// parameters); the framing stays valid.
	Corrupt
	// Retry answers TPM_RC_RETRY without reaching the TPM.
	Retry
)

var modeNames = [...]string{"PassThrough", "DropRequest", "DropResponse", "Truncate", "Corrupt", "Retry"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrDropped marks an injected connection loss; it also wraps
// io.ErrUnexpectedEOF, as a real hang-up would.
var ErrDropped = errors.New("faultinject: connection dropped")

// rcRetry is TPM_RC_RETRY (Part 2, 6.6.3), in a response tagged
// TPM_ST_NO_SESSIONS.
const (
	rcRetry      = 0x922
	stNoSessions = 0x8001
)

// Faulty is a tddl.TPM that applies the configured faults to another. Its
// settings may be changed from any goroutine, also while Send runs.
type Faulty struct {
	*tddl.Hold // SetDeadline and Close
	inner      tddl.TPM

	mu    sync.Mutex
	mode  Mode
	left  int // Sends the mode lasts; < 0: forever
	delay time.Duration
	sends int
}

// New wraps inner, passing everything through until told otherwise.
func New(inner tddl.TPM) *Faulty {
	return &Faulty{Hold: tddl.NewHold(inner), inner: inner, left: -1}
}

// SetMode applies m to every following Send.
func (f *Faulty) SetMode(m Mode) { f.SetModeN(m, -1) }

// SetModeN applies m to the next n Sends, then passes through again
// (n < 0: forever).
func (f *Faulty) SetModeN(m Mode, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.left = m, n
}

// SetDelay holds each Send for d before it does anything else. The delay
// ends early, with an error, at Close or at the deadline.
func (f *Faulty) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Sends counts the calls to Send so far.
func (f *Faulty) Sends() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sends
}

// next consumes one Send's worth of settings.
func (f *Faulty) next() (Mode, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	m := f.mode
	if f.left > 0 {
		f.left--
		if f.left == 0 {
			f.mode, f.left = PassThrough, -1
		}
	}
	return m, f.delay
}

// Send applies the delay, then the fault, to one exchange with inner.
func (f *Faulty) Send(cmd []byte) ([]byte, error) {
	if f.Closed() {
		return nil, fmt.Errorf("faultinject: %w", tddl.ErrClosed)
	}
	mode, delay := f.next()
	if err := f.Wait(delay); err != nil {
		return nil, fmt.Errorf("faultinject: delay: %w", err)
	}
	switch mode {
	case DropRequest:
		return nil, dropped()
	case Retry:
		h := tpmwire.Header{Tag: stNoSessions, Size: tpmwire.HeaderSize, Code: rcRetry}
		return h.Append(nil), nil
	}
	rsp, err := f.inner.Send(cmd)
	if err != nil {
		return nil, err
	}
	switch mode {
	case DropResponse:
		return nil, dropped()
	case Truncate:
		return rsp[:len(rsp)/2], nil
	case Corrupt:
		for i := 6; i < len(rsp); i++ {
			rsp[i] ^= 0xff
		}
	}
	return rsp, nil
}

func dropped() error { return fmt.Errorf("%w: %w", ErrDropped, io.ErrUnexpectedEOF) }

var (
	_ tddl.TPM       = (*Faulty)(nil)
	_ tddl.Deadliner = (*Faulty)(nil)
)
