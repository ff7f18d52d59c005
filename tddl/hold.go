package tddl

import (
	"os"
	"sync"
	"time"
)

// Hold is what a backend that wraps another needs to hold a command for a
// while (a modelled latency, an injected delay) the way a real backend's
// Send is held: SetDeadline bounds the hold, and Close ends it; both then
// make it fail. It implements SetDeadline and Close of the wrapper, which
// forward to the inner backend.
type Hold struct {
	inner  TPM
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	deadline time.Time
}

// NewHold returns the hold of a wrapper of inner.
func NewHold(inner TPM) *Hold { return &Hold{inner: inner, closed: make(chan struct{})} }

// Wait sleeps for d unless Close or the deadline comes first; then it
// returns an error wrapping ErrClosed or os.ErrDeadlineExceeded.
func (h *Hold) Wait(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	h.mu.Lock()
	deadline := h.deadline
	h.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	var expired <-chan time.Time
	if !deadline.IsZero() {
		dl := time.NewTimer(time.Until(deadline))
		defer dl.Stop()
		expired = dl.C
	}
	select {
	case <-timer.C:
		return nil
	case <-expired:
		return os.ErrDeadlineExceeded
	case <-h.closed:
		return ErrClosed
	}
}

// Closed reports whether Close was called.
func (h *Hold) Closed() bool {
	select {
	case <-h.closed:
		return true
	default:
		return false
	}
}

// SetDeadline bounds the hold and, if inner is a Deadliner, inner's Send.
func (h *Hold) SetDeadline(t time.Time) error {
	h.mu.Lock()
	h.deadline = t
	h.mu.Unlock()
	if d, ok := h.inner.(Deadliner); ok {
		return d.SetDeadline(t)
	}
	return nil
}

// Close ends a hold in progress and closes inner, once.
func (h *Hold) Close() error {
	var err error
	h.once.Do(func() {
		close(h.closed)
		err = h.inner.Close()
	})
	return err
}
