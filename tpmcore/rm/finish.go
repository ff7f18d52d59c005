package rm

import (
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// finish saves what must be saved and flushes every object and session the
// command had in the TPM, on success and on every error path alike. It
// returns the first TPM failure (whose context is then dropped, flushed, so
// nothing leaks) and stops only when the transport fails.
func (x *txn) finish() (tpm2.TPMRC, error) {
	var first tpm2.TPMRC
	note := func(rc tpm2.TPMRC) {
		if first == tpm2.TPMRCSuccess {
			first = rc
		}
	}
	objs := x.objs
	x.objs = nil
	for _, l := range objs {
		if l.done {
			continue
		}
		if l.save {
			ctx, rc, err := contextSave(x.t, l.real)
			if err != nil {
				return 0, err
			}
			switch {
			case rc == tpm2.TPMRCSuccess:
				if o := x.sp.objects[l.vh]; o != nil {
					o.ctx = ctx
				}
			case gone(rc):
				delete(x.sp.objects, l.vh)
				continue
			default:
				delete(x.sp.objects, l.vh)
				note(rc)
			}
		}
		// An unchanged object needs no new save: its saved context loads
		// again and again, unlike a session's.
		rc, err := flushContext(x.t, l.real)
		if err != nil {
			return 0, err
		}
		if rc != tpm2.TPMRCSuccess && !gone(rc) {
			x.m.log.Warnf("rm: flush of object 0x%08x failed: %v", l.real, rc)
			note(rc)
		}
	}

	sess := x.sess
	x.sess = nil
	gapped, err := x.saveSessions(sess, note)
	if err != nil {
		return 0, err
	}
	// Each regap moves the oldest saved session to the new end of the
	// TPM's context window; a few are plenty for the sessions of one command.
	for try := 0; len(gapped) > 0 && try < 3; try++ {
		ok, err := x.regap(gapped)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if gapped, err = x.saveSessions(gapped, note); err != nil {
			return 0, err
		}
	}
	for _, h := range gapped {
		if _, err := flushContext(x.t, h); err != nil {
			return 0, err
		}
		x.m.forgetSession(x.sp, h)
		x.m.log.Warnf("rm: session 0x%08x flushed: context gap", h)
		note(tpm2.TPMRCContextGap)
	}
	return first, nil
}

// saveSessions saves each session (see saveSession) and returns those
// that met TPM_RC_CONTEXT_GAP, still loaded; other failures go to note.
func (x *txn) saveSessions(hs []uint32, note func(tpm2.TPMRC)) ([]uint32, error) {
	var gapped []uint32
	for _, h := range hs {
		rc, err := x.saveSession(h)
		if err != nil {
			return nil, err
		}
		switch rc {
		case tpm2.TPMRCSuccess:
		case tpm2.TPMRCContextGap:
			gapped = append(gapped, h)
		default:
			note(rc)
		}
	}
	return gapped, nil
}

// saveSession saves a loaded session, which frees its TPM slot. A session
// the TPM no longer has (flushed by the command) is forgotten; one that
// fails to save otherwise is flushed and forgotten. CONTEXT_GAP leaves it
// loaded for the caller to retry.
func (x *txn) saveSession(h uint32) (tpm2.TPMRC, error) {
	ctx, rc, err := contextSave(x.t, h)
	if err != nil {
		return 0, err
	}
	switch {
	case rc == tpm2.TPMRCSuccess:
		if s := x.sp.sessions[h]; s != nil {
			s.ctx = ctx
		}
		return tpm2.TPMRCSuccess, nil
	case rc == tpm2.TPMRCContextGap:
		return rc, nil
	case gone(rc):
		x.m.forgetSession(x.sp, h)
		return tpm2.TPMRCSuccess, nil
	}
	if _, err := flushContext(x.t, h); err != nil {
		return 0, err
	}
	x.m.forgetSession(x.sp, h)
	x.m.log.Warnf("rm: session 0x%08x flushed: context save: %v", h, rc)
	return rc, nil
}

// regap makes room in the TPM's context counter window (TPM_RC_CONTEXT_GAP,
// Part 1, section 30.5), which the oldest saved session holds open: the
// manager loads and saves again the oldest session of any space (other
// than those in skip, loaded right now), which moves it to the new end of
// the window. If a session a client saved itself is older still, only its
// holder could do that; it is flushed instead, lest every session save
// fail. It reports whether it made room.
func (x *txn) regap(skip []uint32) (bool, error) {
	for {
		sp, h, s := x.m.oldestSaved(slices.Concat(skip, x.sess))
		dh, d := x.m.oldestDetached()
		if d != nil && (s == nil || d.seq < s.ctx.Sequence) {
			if ok, err := x.evict(dh); ok || err != nil {
				return ok, err
			}
			continue
		}
		if s == nil {
			return false, nil
		}
		got, rc, err := contextLoad(x.t, s.ctx)
		if err != nil {
			return false, err
		}
		if rc != tpm2.TPMRCSuccess {
			if lost(rc) {
				x.m.forgetSession(sp, h)
				continue
			}
			return false, nil // no free session slot: nothing to do now
		}
		ctx, rc, err := contextSave(x.t, got)
		if err != nil {
			return false, err
		}
		if rc != tpm2.TPMRCSuccess {
			if _, err := flushContext(x.t, got); err != nil {
				return false, err
			}
			x.m.forgetSession(sp, h)
			return false, nil
		}
		s.ctx = ctx
		x.m.log.Debugf("rm: session 0x%08x saved again to close the context gap", h)
		return true, nil
	}
}

// oldestSaved finds the saved session with the lowest context sequence
// among all spaces, skipping the handles in skip.
func (m *Manager) oldestSaved(skip []uint32) (*Space, uint32, *session) {
	var (
		bestSp *Space
		bestH  uint32
		best   *session
	)
	for h, sp := range m.owner {
		s := sp.sessions[h]
		if s == nil || slices.Contains(skip, h) || len(s.ctx.ContextBlob.Buffer) == 0 {
			continue
		}
		if best == nil || s.ctx.Sequence < best.ctx.Sequence {
			bestSp, bestH, best = sp, h, s
		}
	}
	return bestSp, bestH, best
}

// oldestDetached finds the client-saved session with the lowest sequence.
func (m *Manager) oldestDetached() (uint32, *detached) {
	var (
		bestH uint32
		best  *detached
	)
	for h, d := range m.detached {
		if best == nil || d.seq < best.seq {
			bestH, best = h, d
		}
	}
	return bestH, best
}
