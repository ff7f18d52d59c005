package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
	"tpmfs/tddl"
)

// watchdogGrace is how long past the command deadline the watchdog waits
// for a backend with its own deadline (sockets) before closing it.
const watchdogGrace = time.Second

// link is the queue's connection, closed at most once although the
// job's goroutine, the watchdog and Close may all want to close it.
type link struct {
	tpm  tddl.TPM
	once sync.Once
	err  error
}

func (l *link) close() error {
	l.once.Do(func() { l.err = l.tpm.Close() })
	return l.err
}

// tpmFailure is the TPM failing a command: no answer in time, a broken
// connection or answer, or no end of retries. It is not the caller giving
// up, nor the TPM refusing a command with a response code.
type tpmFailure struct {
	err  error
	slow bool // it took a timeout or the retry budget to find out
}

func (f *tpmFailure) Error() string { return f.err.Error() }
func (f *tpmFailure) Unwrap() error { return f.err }

// send runs one command for a job: (re)connect if needed, transmit
// bounded in time, retry the TPM's warnings, and start a TPM that was
// reset behind a connection that survived. Runs in the job holding the
// TPM only.
func (q *queue) send(ctx context.Context, cmd []byte) ([]byte, error) {
	started := false
	for {
		rsp, err := retry(ctx, func() ([]byte, error) { return q.transmit(cmd) })
		if errors.Is(err, errRetryExhausted) {
			return nil, q.fail(err, true)
		}
		if err != nil {
			return nil, err
		}
		if responseCode(rsp) == tpm2.TPMRCInitialize && !started && q.onReopen != nil && !isStartup(cmd) {
			// A TPM that lost its Startup (swtpm restarted without
			// startup-clear, a power cycle) refuses every command, so
			// nothing ran: start it and send the command again.
			started = true
			if q.hook(q.onReopen); q.conn == nil {
				return nil, q.lastFail
			}
			continue
		}
		q.setHealthy(true, nil)
		return rsp, nil
	}
}

func isStartup(cmd []byte) bool {
	cc, ok := tpmwire.Code(cmd)
	return ok && tpm2.TPMCC(cc) == tpm2.TPMCCStartup
}

// transmit sends one command on the connection, (re)opening it first if
// a failure dropped it.
func (q *queue) transmit(cmd []byte) ([]byte, error) {
	if q.conn == nil {
		if err := q.reconnect(); err != nil {
			return nil, err
		}
	}
	return q.exchange(cmd)
}

func (q *queue) reconnect() error {
	conn, slow, err := q.openBounded()
	if err != nil {
		return q.fail(fmt.Errorf("reopen: %w", err), slow)
	}
	q.conn = &link{tpm: conn}
	if q.onReopen != nil {
		if err := q.hook(q.onReopen); err != nil && q.conn != nil {
			q.log.WithError(err).Debug("after reconnecting")
		}
	}
	if q.conn != nil {
		q.flushLeftovers()
	}
	if q.conn == nil {
		// The hooks lost the connection again (they may not say so).
		return q.lastFail
	}
	return nil
}

// exchange is one bounded Send on the open connection; a failure or a
// malformed answer drops the connection.
func (q *queue) exchange(cmd []byte) ([]byte, error) {
	start := time.Now()
	rsp, slow, err := q.sendBounded(cmd)
	q.stats.command(cmd, time.Since(start))
	if errors.Is(err, tddl.ErrCommandSize) {
		// Refused before any byte reached the TPM: the command's fault.
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err != nil {
		return nil, q.fail(err, slow)
	}
	if err := checkFrame(rsp); err != nil {
		return nil, q.fail(err, false)
	}
	return rsp, nil
}

// hook runs fn (Startup, flushing leftovers) on the open connection,
// without reopening it: a failure drops the connection and ends fn.
func (q *queue) hook(fn func(t transport.TPM) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), q.cmdTimeout)
	defer cancel()
	return fn(senderFunc(func(cmd []byte) ([]byte, error) {
		if q.conn == nil {
			return nil, fmt.Errorf("%w: connection lost", ErrUnavailable)
		}
		rsp, err := retry(ctx, func() ([]byte, error) { return q.exchange(cmd) })
		if errors.Is(err, errRetryExhausted) {
			return nil, q.fail(err, true)
		}
		return rsp, err
	}))
}

// fail drops the connection, whose state is unknown after an I/O failure,
// a timeout or a garbled answer, so the next command starts afresh (and
// the reopen flushes whatever the TPM still holds for us).
func (q *queue) fail(err error, slow bool) error {
	if q.conn != nil {
		q.conn.close()
		q.conn = nil
	}
	// swtpm keeps what the last connection loaded.
	q.dirty = true
	q.setHealthy(false, err)
	q.lastFail = fmt.Errorf("%w: %w", ErrUnavailable, &tpmFailure{err: err, slow: slow})
	return q.lastFail
}

// openBounded opens the connection within the command timeout; an open
// that finishes later is closed by the goroutine left waiting for it.
func (q *queue) openBounded() (conn tddl.TPM, slow bool, err error) {
	type opened struct {
		conn tddl.TPM
		err  error
	}
	ch := make(chan opened, 1)
	go func() {
		c, err := q.open()
		ch <- opened{c, err}
	}()
	timer := time.NewTimer(q.cmdTimeout)
	defer timer.Stop()
	select {
	case o := <-ch:
		return o.conn, false, o.err
	case <-timer.C:
	case <-q.quit:
	}
	go func() {
		if o := <-ch; o.conn != nil {
			o.conn.Close()
		}
	}()
	return nil, true, fmt.Errorf("%w: no connection within %v", tddl.ErrUnreachable, q.cmdTimeout)
}

// sendBounded runs one backend Send, bounded by the command timeout (not
// by the caller's deadline: a caller that gives up does not cut a command
// short, which would cost the connection). Backends with deadlines
// (sockets) stop themselves; for the others a watchdog closes the
// connection, which unblocks Send. Closing the queue interrupts it too.
func (q *queue) sendBounded(cmd []byte) (rsp []byte, slow bool, err error) {
	timeout := q.cmdTimeout
	if q.timeout > 0 {
		timeout = q.timeout
	}
	deadline := time.Now().Add(timeout)
	conn := q.conn
	if dl, ok := conn.tpm.(tddl.Deadliner); ok {
		if err := dl.SetDeadline(deadline); err != nil {
			return nil, false, err
		}
	}
	if err := q.watch(conn, deadline.Add(watchdogGrace)); err != nil {
		return nil, false, err
	}
	rsp, err = conn.tpm.Send(cmd)
	fired := q.unwatch()
	if err != nil {
		return nil, fired || errors.Is(err, os.ErrDeadlineExceeded), err
	}
	return rsp, false, nil
}

// The watchdog: one timer and one registration on quitCtx for the life
// of the queue, armed around each command (a timer and a registration
// per command would cost allocations and a fifth of a GetRandom's time
// on a fast TPM). Either closes the connection of the command in flight.
type watchdog struct {
	timer   *time.Timer
	conn    atomic.Pointer[link] // the command in flight; nil between commands
	expires atomic.Int64         // unix nanos past which it may be closed
	fired   atomic.Bool
}

func (q *queue) startWatchdog() {
	q.wd.timer = time.AfterFunc(time.Hour, func() { q.interrupt(false) })
	q.wd.timer.Stop()
	context.AfterFunc(q.quitCtx, func() { q.interrupt(true) })
}

// watch arms the watchdog for a command on conn until expires.
func (q *queue) watch(conn *link, expires time.Time) error {
	q.wd.fired.Store(false)
	q.wd.expires.Store(expires.UnixNano())
	q.wd.conn.Store(conn) // after expires: a late timer sees both new
	if q.quitCtx.Err() != nil {
		q.unwatch()
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	q.wd.timer.Reset(time.Until(expires))
	return nil
}

// unwatch disarms it and reports whether it fired.
func (q *queue) unwatch() bool {
	q.wd.conn.Store(nil)
	q.wd.timer.Stop()
	return q.wd.fired.Load()
}

// interrupt closes the connection of the command in flight: at once
// when the queue closes, else once it is past its time (a timer armed
// for an earlier command may fire late).
func (q *queue) interrupt(quit bool) {
	c := q.wd.conn.Load()
	if c == nil || !quit && time.Now().UnixNano() < q.wd.expires.Load() {
		return
	}
	if q.wd.conn.CompareAndSwap(c, nil) {
		q.wd.fired.Store(true)
		c.close()
	}
}

// checkFrame accepts only a whole response: a header whose size field
// equals the length. A truncated or padded one means the stream is out of
// step, and go-tpm would misread it.
func checkFrame(rsp []byte) error {
	if err := tpmwire.Check(rsp); err != nil {
		return fmt.Errorf("%w: response: %w", tddl.ErrBadResponse, err)
	}
	return nil
}

// setHealthy logs a transition between reachable and unreachable, once.
func (q *queue) setHealthy(ok bool, err error) {
	if q.healthy.Swap(ok) == ok {
		if err != nil {
			q.stats.health(ok, err)
		}
		return
	}
	q.stats.health(ok, err)
	if ok {
		q.log.Info("TPM reachable again")
	} else {
		q.log.WithError(err).Error("TPM unreachable; operations fail with EIO until it answers")
	}
}
