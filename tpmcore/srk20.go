package tpmcore

import (
	"context"
	"errors"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/rm"
)

// tpmcore's own keys on a TPM 2.0 live in an internal space of the
// resource manager (rm.Manager.NewInternalSpace), so one manager decides
// who holds the TPM's few slots: the storage root key and the salted
// session the Keeper keeps stay loaded while raw clients leave room, are
// saved when they need it, and never cost a CreatePrimary again unless
// the TPM lost them.

// spaceTPM sends every command through the manager in one space.
type spaceTPM struct {
	f  *family20
	sp *rm.Space
	t  transport.TPM
}

func (s spaceTPM) Send(cmd []byte) (rsp []byte, err error) {
	err = s.f.inRM(func(m *rm.Manager) (err error) {
		rsp, err = m.Transmit(s.t, s.sp, cmd)
		return err
	})
	return rsp, err
}

// internal returns the internal space as a transport over t; it runs in
// a job.
func (f *family20) internal(t transport.TPM) (transport.TPM, error) {
	if _, err := f.managerIn(t); err != nil {
		return nil, err
	}
	return spaceTPM{f: f, sp: f.own, t: t}, nil
}

// inRM runs fn, in a job, with the resource manager. A command fn sends
// may meet a connection to reopen, and the queue's hooks then run inside
// the manager's call (restarted, the leftovers flush): they leave the
// manager alone and leave what they would tell it for the next call.
func (f *family20) inRM(fn func(m *rm.Manager) error) error {
	if f.resetPending {
		f.resetPending = false
		f.forgetLoaded()
	}
	f.inManager = true
	defer func() { f.inManager = false }()
	return fn(f.rm)
}

// errInManager: the leftovers flush waits for the manager's call to end
// (the queue tries again before the next job).
var errInManager = errors.New("in the resource manager: flush of leftovers deferred")

// leftovers flushes what failed jobs left, sparing the manager's
// residents.
func (f *family20) leftovers(t transport.TPM) error {
	if f.inManager {
		return errInManager
	}
	return flushLeftovers(t, f.residents())
}

// restarted runs after a reconnect, or when the TPM had lost its
// Startup: it starts the TPM and, if the TPM was reset or restarted
// since tpmcore last knew it (Startup was needed, or the clock's reset
// and restart counts moved), tells the resource manager and the Keeper
// that nothing they had loaded is there any more.
func (f *family20) restarted(t transport.TPM) {
	started := startup(t)
	clock, ok := readClock(t)
	if started || !ok || clock != f.clock {
		// (Without an answer to ReadClock, nothing tells: forget.)
		f.c.log.Debug("the TPM was reset or restarted: forgetting what was loaded")
		if f.inManager {
			f.resetPending = true
		} else {
			f.forgetLoaded()
		}
	}
	if ok {
		f.clock = clock
	}
}

// forgetLoaded tells the manager and the Keeper that the TPM lost all it
// had loaded.
func (f *family20) forgetLoaded() {
	if f.rm != nil {
		f.rm.Reset()
	}
	f.keeper.Forget()
}

// tpmClock is what tells one power cycle of the TPM from the next.
type tpmClock struct{ resets, restarts uint32 }

func readClock(t transport.TPM) (tpmClock, bool) {
	rsp, err := tpm2.ReadClock{}.Execute(t)
	if err != nil {
		return tpmClock{}, false
	}
	ci := rsp.CurrentTime.ClockInfo
	return tpmClock{resets: ci.ResetCount, restarts: ci.RestartCount}, true
}

// residents are the handles the resource manager keeps loaded, which a
// flush of leftovers must spare.
func (f *family20) residents() []tpm2.TPMHandle {
	if f.rm == nil {
		return nil
	}
	var hs []tpm2.TPMHandle
	for _, h := range f.rm.Resident() {
		hs = append(hs, tpm2.TPMHandle(h))
	}
	return hs
}

// stop flushes what tpmcore keeps in the TPM (its key and session), as
// the mount ends.
func (f *family20) stop(ctx context.Context) error {
	return f.c.q.do(ctx, func(t transport.TPM) error {
		if f.rm == nil {
			return nil
		}
		return f.inRM(func(m *rm.Manager) error { return m.Flush(t, f.own) })
	})
}
