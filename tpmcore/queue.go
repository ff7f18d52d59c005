package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	ctx context.Context
	enq time.Time // when it was queued
	// turn is closed when the job may run (it is at the head of the
	// queue) or must not (err is set: the queue failed it or closed).
	turn chan struct{}
	err  error
}

// queue serialises all TPM traffic in FIFO order. Each job runs on its
// caller's goroutine: at once when the queue is idle, else when the job
// before it hands the TPM over. A lone caller thus costs no goroutine
// hand-off, and one waiting behind another a single wake-up. The queue
// owns the tddl connection (conn.go): it opens it lazily, closes it after
// a failure and reopens it for the next job, so a restarted TPM (swtpm) is
// picked up without restarting tpmfs.
type queue struct {
	open       Opener
	cmdTimeout time.Duration
	// timeout, when set, replaces cmdTimeout for the command being sent
	// (a raw client's key generation). Runner-owned.
	timeout time.Duration
	log     *logrus.Entry
	// onReopen runs in the job after a reconnect (Startup).
	onReopen func(t transport.TPM) error
	// onLeftovers flushes what jobs that failed or were cut short may
	// have left loaded in the TPM; it runs before the next job.
	onLeftovers func(t transport.TPM) error

	mu      sync.Mutex
	busy    bool   // a job holds the TPM
	waiting []*job // FIFO, behind the one that holds it
	closed  bool
	runners sync.WaitGroup // goroutines running a job; Close waits for them

	quit chan struct{}
	// quitCtx ends with quit; the command in progress registers on it
	// to be interrupted (context.AfterFunc: no goroutine per command).
	quitCtx    context.Context
	cancelQuit context.CancelFunc

	// Runner-owned state: only the goroutine holding the TPM uses it.
	ex       exclusive // the transport of the job running
	wd       watchdog  // of the command in flight (conn.go)
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
		quit:       make(chan struct{}),
		stats:      newStats(time.Now()),
	}
	q.quitCtx, q.cancelQuit = context.WithCancel(context.Background())
	if conn != nil {
		q.conn = &link{tpm: conn}
	}
	q.healthy.Store(conn != nil)
	q.stats.reachable = conn != nil
	q.startWatchdog()
	return q
}

// depth is how many jobs wait for the TPM now.
func (q *queue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// do runs fn with exclusive use of the TPM and waits for it, or for ctx
// while it waits its turn. A caller whose job has started stays with it
// until its command in progress ends (the job stops before its next
// command): a command cut short would cost the connection.
func (q *queue) do(ctx context.Context, fn func(t transport.TPM) error) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return ErrClosed
	case !q.busy:
		q.busy = true
		q.runners.Add(1)
		q.mu.Unlock()
		return q.take(ctx, fn)
	}
	j := &job{ctx: ctx, enq: time.Now(), turn: make(chan struct{})}
	q.waiting = append(q.waiting, j)
	q.mu.Unlock()
	select {
	case <-j.turn:
	case <-ctx.Done():
		if q.leave(j) {
			q.gaveUp(ctx)
			return fmt.Errorf("waiting for the TPM queue: %w: %w", ErrUnavailable, ctx.Err())
		}
		<-j.turn // handed the TPM as it gave up: take it, to pass it on
	}
	if j.err != nil {
		return j.err
	}
	q.stats.waited(time.Since(j.enq))
	return q.take(ctx, fn)
}

// doWithin is do for a caller without a context of its own: on an idle
// queue it runs at once, with nothing to allocate; waiting, it gives up
// after timeout.
func (q *queue) doWithin(timeout time.Duration, fn func(t transport.TPM) error) error {
	q.mu.Lock()
	idle := !q.busy && !q.closed
	if idle {
		q.busy = true
		q.runners.Add(1)
	}
	q.mu.Unlock()
	if idle {
		return q.take(context.Background(), fn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return q.do(ctx, fn)
}

// take runs fn, whose caller holds the TPM, then hands the TPM to the
// next job.
func (q *queue) take(ctx context.Context, fn func(t transport.TPM) error) error {
	defer q.runners.Done()
	err := q.runJob(ctx, fn)
	q.handOver()
	return err
}

// leave takes j out of the line if it is still waiting there.
func (q *queue) leave(j *job) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, w := range q.waiting {
		if w == j {
			q.waiting = slices.Delete(q.waiting, i, i+1)
			return true
		}
	}
	return false
}

// handOver gives the TPM to the first job waiting, or leaves the queue
// idle.
func (q *queue) handOver() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 || q.closed {
		q.busy = false
		return
	}
	next := q.waiting[0]
	q.waiting = q.waiting[1:]
	q.runners.Add(1)
	close(next.turn)
}

// slowLogEvery rate-limits the warning about callers timing out while the
// TPM still answers: overload is a state, not an event per request.
const slowLogEvery = time.Minute

// gaveUp notes a caller whose deadline passed while it waited for a
// healthy TPM (a failing TPM is logged by the job that met it, once).
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

func (q *queue) runJob(ctx context.Context, fn func(t transport.TPM) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if q.conn != nil {
		q.flushLeftovers() // a reconnect does it otherwise
		if q.conn == nil {
			// The TPM failed the cleanup: this job would meet the same.
			q.failed(q.lastFail)
			return q.lastFail
		}
	}
	// One transport for every job, as one job runs at a time.
	q.ex = exclusive{q: q, ctx: ctx}
	ex := &q.ex
	err := fn(ex)
	if err != nil || ex.cut {
		// A garbled answer hides the handle of an object the TPM did
		// create; a job stopped between commands (its caller gave up)
		// never reaches its flush.
		q.dirty = true
	}
	if ex.failed != nil {
		q.failed(ex.err)
	}
	return err
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
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range q.waiting {
		j.err = fmt.Errorf("%w: the TPM failed while this waited: %w", ErrUnavailable, cause)
		close(j.turn)
	}
	q.waiting = nil
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

// close fails the jobs waiting, interrupts a command in progress, waits
// for its job to end and closes the connection.
func (q *queue) close() error {
	q.closing.Do(func() {
		q.mu.Lock()
		q.closed = true
		for _, j := range q.waiting {
			j.err = ErrClosed
			close(j.turn)
		}
		q.waiting = nil
		q.mu.Unlock()
		close(q.quit)
		q.cancelQuit()
		q.runners.Wait()
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
