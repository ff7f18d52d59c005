package rm

import (
	"cmp"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/sirupsen/logrus"
)

// Accounting of what spaces hold. A space may hold MaxObjects objects and
// MaxSessions sessions, counting the sessions its client saved itself
// until they are flushed or loaded elsewhere; a non-admin uid may hold
// its Quota across all of its spaces, counting the sessions its clients
// saved after those spaces closed. Past either, a command that would add
// one gets the TPM's own TPM_RC_OBJECT_MEMORY or TPM_RC_SESSION_MEMORY
// (tagged with RMLayer), before the TPM does any work.

// roomForObject is TPM_RC_SUCCESS if sp may hold one more object.
func (m *Manager) roomForObject(sp *Space) tpm2.TPMRC {
	if len(sp.objects) >= MaxObjects {
		return tpm2.TPMRCObjectMemory
	}
	if q := m.quota(sp); q != nil && m.objectsOf(sp.uid) >= q.Objects {
		m.log.WithFields(logrus.Fields{"uid": sp.uid, "objects": q.Objects}).Info("tpmrm0: object refused: the user holds its quota of objects")
		return tpm2.TPMRCObjectMemory
	}
	return tpm2.TPMRCSuccess
}

// roomForSession is TPM_RC_SUCCESS if sp may hold session h, a new one
// (StartAuthSession) or a saved one being loaded (ContextLoad). Loading
// a session that sp's client saved itself adds nothing, nor, for the
// uid, loading one that another of the uid's clients saved.
func (m *Manager) roomForSession(sp *Space, h uint32) tpm2.TPMRC {
	if _, own := sp.sessions[h]; own {
		return tpm2.TPMRCSuccess
	}
	d := m.detached[h]
	if d == nil || d.by != sp {
		if m.sessionsIn(sp) >= MaxSessions {
			return tpm2.TPMRCSessionMemory
		}
	}
	if q := m.quota(sp); q != nil && (d == nil || d.uid != sp.uid) && m.sessionsOf(sp.uid) >= q.Sessions {
		m.log.WithFields(logrus.Fields{"uid": sp.uid, "sessions": q.Sessions}).Info("tpmrm0: session refused: the user holds its quota of sessions (saved ones included; tpm2_flushcontext --saved-session frees them)")
		return tpm2.TPMRCSessionMemory
	}
	return tpm2.TPMRCSuccess
}

// sessionsIn counts sp's sessions: those the manager keeps for it and
// those its client saved and nobody has loaded since.
func (m *Manager) sessionsIn(sp *Space) int {
	n := len(sp.sessions)
	for _, d := range m.detached {
		if d.by == sp {
			n++
		}
	}
	return n
}

// sessionsOf counts uid's sessions across its open spaces, and the ones
// its clients saved, whether or not they are still open.
func (m *Manager) sessionsOf(uid uint32) int {
	n := m.held(uid, func(sp *Space) int { return len(sp.sessions) })
	for _, d := range m.detached {
		if d.uid == uid {
			n++
		}
	}
	return n
}

// objectsOf counts uid's objects across its open spaces.
func (m *Manager) objectsOf(uid uint32) int {
	return m.held(uid, func(sp *Space) int { return len(sp.objects) })
}

// opensOf counts uid's open spaces.
func (m *Manager) opensOf(uid uint32) int {
	return m.held(uid, func(*Space) int { return 1 })
}

// held sums count over uid's open spaces.
func (m *Manager) held(uid uint32, count func(*Space) int) int {
	n := 0
	for sp := range m.spaces {
		if sp.uid == uid && !sp.internal {
			n += count(sp)
		}
	}
	return n
}

// Usage is what one uid holds through the manager.
type Usage struct {
	UID                      uint32
	Opens, Objects, Sessions int
}

// Usage lists, by uid, the open spaces, their objects and their sessions
// (saved ones of closed spaces included), for a status report.
func (m *Manager) Usage() []Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	uids := map[uint32]bool{}
	for sp := range m.spaces {
		if !sp.internal { // the caller's own keys are no client's
			uids[sp.uid] = true
		}
	}
	for _, d := range m.detached {
		uids[d.uid] = true
	}
	var out []Usage
	for uid := range uids {
		out = append(out, Usage{UID: uid, Opens: m.opensOf(uid), Objects: m.objectsOf(uid), Sessions: m.sessionsOf(uid)})
	}
	slices.SortFunc(out, func(a, b Usage) int { return cmp.Compare(a.UID, b.UID) })
	return out
}
