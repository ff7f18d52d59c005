package rm

import (
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"
)

// Reclaim frees one of the TPM's session handles for an operation of the
// manager's caller (tpmcore's own sealing) that met TPM_RC_SESSION_HANDLES,
// so that no raw client can make the TPM refuse tpmfs itself. It flushes,
// in this order: the orphan (a client-saved session whose space has
// closed) saved longest ago; then a session held by a non-admin uid,
// saved by its client or kept by the manager for an open space, the
// client then finds it gone, as after a TPM reset. Admins' live sessions
// stay. It reports whether it freed a handle. The caller holds exclusive
// use of tpm.
func (m *Manager) Reclaim(tpm transport.TPM) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := &txn{m: m, t: tpm}
	if ok, err := x.evictOrphan(); ok || err != nil {
		return ok, err
	}
	return x.evictRestricted()
}

// evictRestricted flushes the oldest session a non-admin uid holds: one
// its client saved (oldest save first), else one the manager keeps for a
// non-admin space (lowest context sequence first).
func (x *txn) evictRestricted() (bool, error) {
	for {
		var (
			h    uint32
			best *detached
		)
		for k, d := range x.m.detached {
			if !x.m.isAdmin(d.uid) && (best == nil || d.n < best.n) {
				h, best = k, d
			}
		}
		if best == nil {
			break
		}
		uid := best.uid
		ok, err := x.evict(h)
		if err != nil {
			return false, err
		}
		if ok {
			x.m.log.WithFields(logrus.Fields{"uid": uid, "session": h}).Warn("rm: flushed a session a raw client saved, to free a session handle for tpmfs")
			return true, nil
		}
	}
	for {
		var (
			bestSp *Space
			bestH  uint32
			best   *session
		)
		for h, sp := range x.m.owner {
			s := sp.sessions[h]
			if s == nil || sp.admin {
				continue
			}
			if best == nil || s.ctx.Sequence < best.ctx.Sequence {
				bestSp, bestH, best = sp, h, s
			}
		}
		if best == nil {
			return false, nil
		}
		rc, err := flushContext(x.t, bestH)
		if err != nil {
			return false, err
		}
		x.m.forgetSession(bestSp, bestH)
		if rc == tpm2.TPMRCSuccess {
			x.m.log.WithFields(logrus.Fields{"uid": bestSp.uid, "session": bestH}).Warn("rm: flushed a raw client's session, to free a session handle for tpmfs")
			return true, nil
		}
	}
}
