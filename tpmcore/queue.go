package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	enq  time.Time // when it was queued
	run  func(t transport.TPM) error
	done chan error
}

// queue serialises all TPM traffic through one goroutine, in FIFO order.
// It owns the tddl connection (conn.go): it opens it lazily, closes it
// after a failure and reopens it for the next job, so a restarted TPM
// (swtpm) is picked up without restarting tpmfs.
type queue struct {
	open       Opener
	cmdTimeout time.Duration
	// timeout, when set, replaces cmdTimeout for the command being sent
	// (a raw client's key generation). Worker-owned.
	timeout time.Duration
	log     *logrus.Entry
	// onReopen runs on the worker after a reconnect (Startup).
	onReopen func(t transport.TPM) error
	// onLeftovers flushes what jobs that failed or were cut short may
	// have left loaded in the TPM; it runs before the next job.
	onLeftovers func(t transport.TPM) error

	jobs chan *job
	quit chan struct{}
	// quitCtx ends with quit; the command in progress registers on it
	// to be interrupted (context.AfterFunc: no goroutine per command).
	quitCtx    context.Context
	cancelQuit context.CancelFunc
	wg         sync.WaitGroup

	// Worker-owned state.
	conn     *link
	dirty    bool  // the TPM may hold objects or sessions a job left behind
	lastFail error // what the last fail returned

	healthy  atomic.Bool // last transition logged; log once per change
	stats    *stats
	slowLog  atomic.Int64 // unix nanos of the last "too slow" warning
	closeErr error
	closing  sync.Once
}

func newQueue(open Opener, conn tddl.TPM, cmdTimeout time.Duration, log *logrus.Entry) *queue {
	q := &queue{
		open:       open,
		cmdTimeout: cmdTimeout,
		log:        log,
		jobs:       make(chan *job, 256),
		quit:       make(chan struct{}),
		stats:      newStats(time.Now()),
	}
	q.quitCtx, q.cancelQuit = context.WithCancel(context.Background())
	if conn != nil {
		q.conn = &link{tpm: conn}
	}
	q.healthy.Store(conn != nil)
	q.stats.reachable = conn != nil
	q.wg.Add(1)
	go q.worker()
	return q
}

// depth is how many jobs wait for the worker now.
func (q *queue) depth() int { return len(q.jobs) }

// do runs fn with exclusive use of the TPM and waits for it, or for ctx.
// A caller that gives up leaves the job to be skipped by the worker, or,
// if it is already running, to stop before its next command.
func (q *queue) do(ctx context.Context, fn func(t transport.TPM) error) error {
	j := &job{ctx: ctx, enq: time.Now(), run: fn, done: make(chan error, 1)}
	select {
	case q.jobs <- j:
	case <-q.quit:
		return ErrClosed
	case <-ctx.Done():
		q.gaveUp(ctx)
		return fmt.Errorf("waiting for the TPM queue: %w: %w", ErrUnavailable, ctx.Err())
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		q.gaveUp(ctx)
		return fmt.Errorf("waiting for the TPM: %w: %w", ErrUnavailable, ctx.Err())
	case <-q.quit:
		return ErrClosed
	}
}

// slowLogEvery rate-limits the warning about callers timing out while the
// TPM still answers: overload is a state, not an event per request.
const slowLogEvery = time.Minute

// gaveUp notes a caller whose deadline passed while the TPM was healthy
// (a failing TPM is logged by the worker, once).
func (q *queue) gaveUp(ctx context.Context) {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !q.healthy.Load() {
		return
	}
	now := time.Now().UnixNano()
	last := q.slowLog.Load()
	if now-last < int64(slowLogEvery) || !q.slowLog.CompareAndSwap(last, now) {
		return
	}
	q.log.Warn("TPM too slow for the load: operations time out waiting for it (logged at most once a minute)")
}

// sender is a transport.TPM for one-off commands from the caller's
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
			q.runJob(j)
		}
	}
}

func (q *queue) runJob(j *job) {
	q.stats.waited(time.Since(j.enq))
	if err := j.ctx.Err(); err != nil {
		j.done <- fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	if q.conn != nil {
		q.flushLeftovers() // a reconnect does it otherwise
		if q.conn == nil {
			// The TPM failed the cleanup: this job would meet the same.
			q.failed(q.lastFail)
			j.done <- q.lastFail
			return
		}
	}
	ex := &exclusive{q: q, ctx: j.ctx}
	err := j.run(ex)
	if err != nil || ex.cut {
		// A garbled answer hides the handle of an object the TPM did
		// create; a job stopped between commands (its caller gave up)
		// never reaches its flush.
		q.dirty = true
	}
	if ex.failed != nil {
		q.failed(ex.err)
	}
	j.done <- err
}

// failed fails the jobs waiting now if err, a TPM failure, was slow to
// show: callers queued behind a TPM that took a whole timeout (or retry
// budget) to fail would each wait as long for the same answer.
func (q *queue) failed(err error) {
	var f *tpmFailure
	if errors.As(err, &f) && f.slow {
		q.failWaiting(f)
	}
}

// flushLeftovers runs onLeftovers if a job may have left something.
func (q *queue) flushLeftovers() {
	if !q.dirty || q.onLeftovers == nil {
		return
	}
	if err := q.hook(q.onLeftovers); err != nil {
		q.log.WithError(err).Debug("flushing what a failed operation left in the TPM")
		return
	}
	q.dirty = false
}

// failWaiting fails the jobs queued now with cause; jobs queued later
// try the TPM themselves, so a TPM that comes back is used at once.
func (q *queue) failWaiting(cause *tpmFailure) {
	for n := len(q.jobs); n > 0; n-- {
		select {
		case j := <-q.jobs:
			j.done <- fmt.Errorf("%w: the TPM failed while this waited: %w", ErrUnavailable, cause)
		default:
			return
		}
	}
}

// exclusive is the transport handed to a running job: each Send goes
// straight to the backend, bounded in time, with retries.
type exclusive struct {
	q   *queue
	ctx context.Context
	// failed is the TPM failure that ended the job: later Sends of the
	// job fail at once, so a dead TPM costs a job one timeout, not one
	// per command (a seal's cleanup flush would wait again).
	failed *tpmFailure
	err    error // what failed Sends return
	cut    bool  // a Send was refused because the caller gave up
}

func (e *exclusive) Send(cmd []byte) ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	if err := e.ctx.Err(); err != nil {
		e.cut = true
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	e.q.timeout = commandTimeout(e.ctx, cmd, e.q.cmdTimeout)
	rsp, err := e.q.send(e.ctx, cmd)
	e.q.timeout = 0
	if err != nil {
		var f *tpmFailure
		switch {
		case errors.As(err, &f):
			e.failed, e.err = f, err
		case e.ctx.Err() != nil:
			e.cut = true
		}
		return nil, err
	}
	return rsp, nil
}

// close stops the worker, interrupting a command in progress, and closes
// the connection.
func (q *queue) close() error {
	q.closing.Do(func() {
		close(q.quit)
		q.cancelQuit()
		q.wg.Wait()
		if q.conn != nil {
			err := q.conn.close()
			if !errors.Is(err, tddl.ErrClosed) {
				q.closeErr = err
			}
			q.conn = nil
		}
	})
	return q.closeErr
}
