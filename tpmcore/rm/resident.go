package rm

import (
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Residency. What a command used stays loaded in the TPM afterwards (it
// is resident), so a client that works alone pays no ContextSave and
// ContextLoad between its commands. When a command (of any space, or of
// the manager's caller through its internal space) finds the TPM full,
// the context resident longest unused, of any space, is swapped out:
// saved if the TPM's copy is newer than its saved context, and flushed.
// A closing space flushes what it has resident; SwapOut swaps out
// everything.
//
// A resident context can vanish behind the manager's back (a TPM reset,
// TPM2_Clear): a command naming it then meets "not loaded", and the
// manager loads the saved context again, or forgets a context that was
// never saved (txn.vanished). A real handle the TPM hands out while the
// manager holds it as resident for someone else means that one vanished
// (claim), so a stale handle never reaches another space's object.

// evict swaps out the least recently used resident object (or session,
// if session), other than those in keep. It reports whether it freed a
// slot.
func (m *Manager) evict(t transport.TPM, session bool, keep []uint32) (bool, error) {
	for {
		if session {
			sp, h, s := m.lruSession(keep)
			if s == nil {
				return false, nil
			}
			ok, err := m.swapSession(t, sp, h, s)
			if ok || err != nil {
				return ok, err
			}
			continue
		}
		sp, vh, o := m.lruObject(keep)
		if o == nil {
			return false, nil
		}
		ok, err := m.swapObject(t, sp, vh, o)
		if ok || err != nil {
			return ok, err
		}
	}
}

func (m *Manager) lruObject(keep []uint32) (*Space, uint32, *object) {
	var (
		bestSp *Space
		bestVH uint32
		best   *object
	)
	for sp := range m.spaces {
		for vh, o := range sp.objects {
			if o.real == 0 || slices.Contains(keep, o.real) {
				continue
			}
			if best == nil || o.used < best.used {
				bestSp, bestVH, best = sp, vh, o
			}
		}
	}
	return bestSp, bestVH, best
}

func (m *Manager) lruSession(keep []uint32) (*Space, uint32, *session) {
	var (
		bestSp *Space
		bestH  uint32
		best   *session
	)
	for h, sp := range m.owner {
		s := sp.sessions[h]
		if s == nil || !s.resident || slices.Contains(keep, h) {
			continue
		}
		if best == nil || s.used < best.used {
			bestSp, bestH, best = sp, h, s
		}
	}
	return bestSp, bestH, best
}

// swapObject saves (if it must) and flushes a resident object. It
// reports whether a slot was freed; an object that cannot be saved is
// flushed and forgotten, one the TPM no longer has only forgotten.
func (m *Manager) swapObject(t transport.TPM, sp *Space, vh uint32, o *object) (bool, error) {
	real := o.real
	o.real = 0
	if o.dirty || len(o.ctx.ContextBlob.Buffer) == 0 {
		ctx, rc, err := contextSave(t, real)
		switch {
		case err != nil:
			return false, err
		case rc == tpm2.TPMRCSuccess:
			o.ctx, o.dirty = ctx, false
		case gone(rc):
			delete(sp.objects, vh)
			return false, nil
		default:
			delete(sp.objects, vh)
			m.log.Warnf("rm: object 0x%08x dropped: context save: %v", vh, rc)
		}
	}
	rc, err := flushContext(t, real)
	if err != nil {
		return false, err
	}
	if rc != tpm2.TPMRCSuccess {
		if !gone(rc) {
			m.log.Warnf("rm: flush of object 0x%08x failed: %v", real, rc)
		}
		return false, nil
	}
	return true, nil
}

// swapSession saves a resident session, which frees its slot (a saved
// session keeps its handle). One that cannot be saved (not even past a
// context gap, which needs a free slot to close) is flushed and
// forgotten.
func (m *Manager) swapSession(t transport.TPM, sp *Space, h uint32, s *session) (bool, error) {
	ctx, rc, err := contextSave(t, h)
	// Each regap moves the oldest saved session to the new end of the
	// TPM's context window; a few are plenty for one save.
	for try := 0; err == nil && rc == tpm2.TPMRCContextGap && try < 3; try++ {
		made, err := (&txn{m: m, t: t}).regap([]uint32{h})
		if err != nil {
			return false, err
		}
		if !made {
			break
		}
		ctx, rc, err = contextSave(t, h)
	}
	switch {
	case err != nil:
		return false, err
	case rc == tpm2.TPMRCSuccess:
		s.ctx, s.resident = ctx, false
		return true, nil
	case gone(rc):
		m.forgetSession(sp, h)
		return false, nil
	}
	m.forgetSession(sp, h)
	rc, err = flushContext(t, h)
	if err != nil {
		return false, err
	}
	m.log.Warnf("rm: session 0x%08x flushed: context save: %v", h, rc)
	return rc == tpm2.TPMRCSuccess, nil
}

// claim notes that the TPM gave real handle h to o: anything else the
// manager holds as resident under h vanished before (the TPM hands out
// only free handles).
func (m *Manager) claim(h uint32, o *object) {
	for sp := range m.spaces {
		for vh, other := range sp.objects {
			if other == o || other.real != h {
				continue
			}
			other.real = 0
			if other.dirty || len(other.ctx.ContextBlob.Buffer) == 0 {
				delete(sp.objects, vh)
			}
			m.log.Debugf("rm: resident object 0x%08x vanished: its handle was given again", vh)
		}
	}
}

// SwapOut saves and flushes everything resident, in every space, as the
// kernel's resource manager leaves the TPM after each command. The
// caller holds exclusive use of tpm.
func (m *Manager) SwapOut(tpm transport.TPM) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.swapOut(tpm)
}

func (m *Manager) swapOut(t transport.TPM) error {
	for _, session := range []bool{false, true} {
		// Each round takes one context off the resident list, whether
		// or not it frees a slot.
		for m.anyResident(session) {
			if _, err := m.evict(t, session, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) anyResident(session bool) bool { return m.anyResidentBut(session, nil) }

func (m *Manager) anyResidentBut(session bool, keep []uint32) bool {
	if session {
		_, _, s := m.lruSession(keep)
		return s != nil
	}
	_, _, o := m.lruObject(keep)
	return o != nil
}

// residents counts the objects and sessions resident, in every space.
func (m *Manager) residents() (objects, sessions int) {
	for sp := range m.spaces {
		for _, o := range sp.objects {
			if o.real != 0 {
				objects++
			}
		}
		for _, s := range sp.sessions {
			if s.resident {
				sessions++
			}
		}
	}
	return objects, sessions
}

// Resident lists the TPM handles the manager keeps loaded: what its
// caller must leave alone when it flushes what it does not know.
func (m *Manager) Resident() []uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var hs []uint32
	for sp := range m.spaces {
		for _, o := range sp.objects {
			if o.real != 0 {
				hs = append(hs, o.real)
			}
		}
		for h, s := range sp.sessions {
			if s.resident {
				hs = append(hs, h)
			}
		}
	}
	slices.Sort(hs)
	return hs
}

// Reset tells the manager that the TPM was reset (TPM2_Startup(CLEAR)
// after it lost power or its state): nothing is resident any more, and
// what was never saved is gone. Saved contexts fail to load later, and
// are forgotten then.
func (m *Manager) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
}

func (m *Manager) reset() {
	for sp := range m.spaces {
		for vh, o := range sp.objects {
			if o.real == 0 {
				continue
			}
			o.real = 0
			if o.dirty || len(o.ctx.ContextBlob.Buffer) == 0 {
				delete(sp.objects, vh)
			}
		}
		for h, s := range sp.sessions {
			if s.resident {
				m.forgetSession(sp, h)
			}
		}
	}
}

// hierarchyChanges are the commands after whose success what was made
// under a hierarchy may be gone or different: the persistent storage
// root key evicted, the seeds changed.
var hierarchyChanges = []tpm2.TPMCC{
	tpm2.TPMCCClear, tpm2.TPMCCEvictControl, tpm2.TPMCCChangeEPS, tpm2.TPMCCChangePPS,
	tpm2.TPMCCHierarchyControl, tpm2.TPMCCHierarchyChanegAuth, tpm2.TPMCCStartup,
}

// OnHierarchyChange sets fn to run, inside Transmit, after a client's
// command that may have changed what a hierarchy holds (TPM2_Clear,
// EvictControl, …) succeeded, so that the caller forgets what it knew of
// persistent keys.
func (m *Manager) OnHierarchyChange(fn func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onChange = fn
}

func (m *Manager) changed(cc uint32) {
	if tpm2.TPMCC(cc) == tpm2.TPMCCStartup {
		// It succeeded: the TPM had not been started, so it lost
		// everything since the manager last used it.
		m.reset()
	}
	if m.onChange != nil && slices.Contains(hierarchyChanges, tpm2.TPMCC(cc)) {
		m.onChange()
	}
}

// reclaim frees a session handle for the manager's caller's own command
// (its internal space), as Reclaim does.
func (x *txn) reclaim() (bool, error) {
	if ok, err := x.evictOrphan(); ok || err != nil {
		return ok, err
	}
	return x.evictRestricted()
}
