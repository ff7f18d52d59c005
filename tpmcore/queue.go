package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"

	"tpmfs/tddl"
)

// Opener opens (or reopens) the connection to the TPM.
type Opener func() (tddl.TPM, error)

// job is one unit of exclusive TPM use: a single command or a short
// sequence (seal: create primary, create, flush) that must not interleave
// with other callers' commands.
type job struct {
	ctx  context.Context
	run  func(t transport.TPM) error
	done chan error
}

// queue serialises all TPM traffic through one goroutine, in FIFO order.
// It owns the tddl connection: it opens it lazily, closes it after an I/O
// failure and reopens it for the next job, so a restarted TPM (swtpm) is
// picked up without restarting tpmfs.
type queue struct {
	open       Opener
	cmdTimeout time.Duration
	log        *logrus.Entry
	onReopen   func(t transport.TPM) // runs on the worker after a reconnect

	jobs chan *job
	quit chan struct{}
	wg   sync.WaitGroup

	// Worker-owned state.
	conn    tddl.TPM
	healthy bool // last transition logged; log once per change, not per job

	closeOnce sync.Once
}

func newQueue(open Opener, conn tddl.TPM, cmdTimeout time.Duration, log *logrus.Entry) *queue {
	q := &queue{
		open:       open,
		conn:       conn,
		healthy:    conn != nil,
		cmdTimeout: cmdTimeout,
		log:        log,
		jobs:       make(chan *job, 256),
		quit:       make(chan struct{}),
	}
	q.wg.Add(1)
	go q.worker()
	return q
}

// do runs fn with exclusive use of the TPM and waits for it, or for ctx.
// A caller that gives up leaves the job to be skipped by the worker (or,
// if it is already running, to see its context cancelled on the next
// command).
func (q *queue) do(ctx context.Context, fn func(t transport.TPM) error) error {
	j := &job{ctx: ctx, run: fn, done: make(chan error, 1)}
	select {
	case q.jobs <- j:
	case <-q.quit:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("waiting for the TPM queue: %w: %w", ErrUnavailable, ctx.Err())
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the TPM: %w: %w", ErrUnavailable, ctx.Err())
	case <-q.quit:
		return ErrClosed
	}
}

// Send implements transport.TPM for one-off commands from the caller's
// goroutine, so go-tpm's typed commands can run through the queue.
func (q *queue) sender(ctx context.Context) transport.TPM {
	return senderFunc(func(cmd []byte) ([]byte, error) {
		var rsp []byte
		err := q.do(ctx, func(t transport.TPM) error {
			var err error
			rsp, err = t.Send(cmd)
			return err
		})
		return rsp, err
	})
}

type senderFunc func(cmd []byte) ([]byte, error)

func (f senderFunc) Send(cmd []byte) ([]byte, error) { return f(cmd) }

func (q *queue) worker() {
	defer q.wg.Done()
	for {
		select {
		case <-q.quit:
			return
		case j := <-q.jobs:
			if err := j.ctx.Err(); err != nil {
				j.done <- err
				continue
			}
			j.done <- j.run(&exclusive{q: q, ctx: j.ctx})
		}
	}
}

// exclusive is the transport handed to a running job: each Send goes
// straight to the backend, bounded in time, with retries.
type exclusive struct {
	q   *queue
	ctx context.Context
}

func (e *exclusive) Send(cmd []byte) ([]byte, error) {
	if err := e.ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return retry(e.ctx, func() ([]byte, error) { return e.q.transmit(e.ctx, cmd) })
}

// transmit sends one command on the connection, (re)opening it if needed.
// Runs on the worker goroutine only.
func (q *queue) transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if q.conn == nil {
		conn, err := q.open()
		if err != nil {
			q.setHealthy(false, err)
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		q.conn = conn
		if q.onReopen != nil {
			q.onReopen(&rawTransport{q: q, ctx: ctx})
		}
	}
	rsp, err := q.sendBounded(ctx, cmd)
	if err != nil {
		// The connection's state is unknown after an I/O failure or a
		// timeout; drop it so the next command starts afresh.
		q.conn.Close()
		q.conn = nil
		q.setHealthy(false, err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(rsp) < 10 {
		q.conn.Close()
		q.conn = nil
		err := fmt.Errorf("%w: response of %d bytes", tddl.ErrBadResponse, len(rsp))
		q.setHealthy(false, err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	q.setHealthy(true, nil)
	return rsp, nil
}

// rawTransport sends without retry or reopen: for the reconnect hook.
type rawTransport struct {
	q   *queue
	ctx context.Context
}

func (r *rawTransport) Send(cmd []byte) ([]byte, error) {
	if r.q.conn == nil {
		return nil, ErrUnavailable
	}
	return r.q.sendBounded(r.ctx, cmd)
}

// sendBounded runs one backend Send, bounded by the command timeout and
// the job's context. Backends with deadlines (sockets) stop themselves;
// for the others a watchdog closes the connection, which unblocks Send.
func (q *queue) sendBounded(ctx context.Context, cmd []byte) ([]byte, error) {
	deadline := time.Now().Add(q.cmdTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := q.conn
	if dl, ok := conn.(tddl.Deadliner); ok {
		if err := dl.SetDeadline(deadline); err != nil {
			return nil, err
		}
	}
	stop := make(chan struct{})
	watchdog := time.AfterFunc(time.Until(deadline)+time.Second, func() {
		select {
		case <-stop:
		default:
			// Closing unblocks Send on every backend; swtpm's cancel
			// would only act between commands.
			conn.Close()
		}
	})
	rsp, err := conn.Send(cmd)
	close(stop)
	watchdog.Stop()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return rsp, err
}

func (q *queue) setHealthy(ok bool, err error) {
	if ok == q.healthy {
		return
	}
	q.healthy = ok
	if ok {
		q.log.Info("TPM reachable again")
	} else {
		q.log.WithError(err).Error("TPM unreachable; operations fail with EIO until it answers")
	}
}

// close stops the worker and closes the connection.
func (q *queue) close() error {
	var err error
	q.closeOnce.Do(func() {
		close(q.quit)
		q.wg.Wait()
		if q.conn != nil {
			err = q.conn.Close()
			if errors.Is(err, tddl.ErrClosed) {
				err = nil
			}
		}
	})
	return err
}
