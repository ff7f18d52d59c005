package rm

import (
	"slices"

	"github.com/google/go-tpm/tpm2"
)

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
