package tpmcore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"tpmfs/tddl"
	"tpmfs/tddl/faultinject"
)

// faultySim is a TPM (the in-process simulator) behind a fault injector
// that survives reconnects: every (re)open gets a fresh faultinject
// wrapper with the settings of the moment, and closing a wrapper leaves
// the simulator running, as a restarted swtpm connection would.
type faultySim struct {
	sim *simulator.Simulator

	mu     sync.Mutex
	cur    *faultinject.Faulty
	mode   faultinject.Mode
	delay  time.Duration
	gone   bool          // opening fails: the TPM is away
	hang   chan struct{} // opening blocks until this is closed
	opens  int
	closed bool
}

// simConn is the simulator as a tddl.TPM whose Close leaves it running.
type simConn struct{ transport.TPM }

func (simConn) Close() error { return nil }

func (f *faultySim) open() (tddl.TPM, error) {
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone || f.closed {
		return nil, tddl.ErrUnreachable
	}
	f.opens++
	f.cur = faultinject.New(simConn{transport.FromReadWriter(f.sim)})
	f.cur.SetMode(f.mode)
	f.cur.SetDelay(f.delay)
	return f.cur, nil
}

// set applies a fault to the open wrapper and to every later one.
func (f *faultySim) set(m faultinject.Mode, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.delay = m, delay
	if f.cur != nil {
		f.cur.SetMode(m)
		f.cur.SetDelay(delay)
	}
}

// setN applies mode m to the next n Sends of the open wrapper only.
func (f *faultySim) setN(m faultinject.Mode, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur.SetModeN(m, n)
}

// sends counts the Sends of the open wrapper so far.
func (f *faultySim) sends() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.Sends()
}

// setHang makes opens block until release is called.
func (f *faultySim) setHang() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.hang = ch
	return func() {
		f.mu.Lock()
		f.hang = nil
		f.mu.Unlock()
		close(ch)
	}
}

func (f *faultySim) setGone(gone bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gone = gone
}

func (f *faultySim) reopens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens - 1
}

// newFaultyCore runs a Core over a faultySim, with a short command
// timeout so that stalls cost the tests little, and its log captured.
func newFaultyCore(t *testing.T, cmdTimeout time.Duration) (*Core, *faultySim, *logtest.Hook) {
	t.Helper()
	sim, err := simulator.Get()
	if err != nil {
		t.Fatal(err)
	}
	f := &faultySim{sim: sim}
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	c, err := New(f.open, Options{
		Source:         "faulty-sim",
		CommandTimeout: cmdTimeout,
		OpTimeout:      10 * time.Second,
		Log:            logrus.NewEntry(logger),
	})
	if err != nil {
		sim.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		f.mu.Lock()
		f.closed = true
		f.mu.Unlock()
		sim.Close()
	})
	return c, f, hook
}

// shortRetries makes the retry budget small for one test.
func shortRetries(t *testing.T, d time.Duration) {
	old := retryBudget
	retryBudget = d
	t.Cleanup(func() { retryBudget = old })
}

// transients lists the transient objects and loaded sessions in the TPM
// beyond what tpmcore keeps loaded on purpose (its storage root key and
// session), asked with go-tpm's own command through the queue.
func transients(t *testing.T, c *Core) []tpm2.TPMHandle {
	t.Helper()
	var all []tpm2.TPMHandle
	err := c.q.do(context.Background(), func(tpm transport.TPM) (err error) {
		all, err = listLoaded(tpm)
		if f, ok := c.fam.(*family20); ok {
			// What tpmcore keeps loaded on purpose (its SRK and session).
			keep := f.residents()
			all = slices.DeleteFunc(all, func(h tpm2.TPMHandle) bool { return slices.Contains(keep, h) })
		}
		return err
	})
	if err != nil {
		t.Fatalf("list handles: %v", err)
	}
	return all
}

func listLoaded(tpm transport.TPM) ([]tpm2.TPMHandle, error) {
	var all []tpm2.TPMHandle
	for _, first := range []uint32{0x80000000, 0x02000000} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: 64}.Execute(tpm)
		if err != nil {
			return nil, err
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return nil, err
		}
		for _, h := range hs.Handle {
			if top := uint32(h) >> 24; top == first>>24 || (first == 0x02000000 && top == 0x03) {
				all = append(all, h)
			}
		}
	}
	return all, nil
}

// logCount counts the captured entries at level with message msg.
func logCount(hook *logtest.Hook, level logrus.Level, msg string) int {
	n := 0
	for _, e := range hook.AllEntries() {
		if e.Level == level && e.Message == msg {
			n++
		}
	}
	return n
}

const (
	msgDown = "TPM unreachable; operations fail with EIO until it answers"
	msgUp   = "TPM reachable again"
)

// isUnavailable reports whether err is the TPM failing, as fs sees it.
func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
