package rm

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"

	"tpmfs/internal/tpmwire"
	"tpmfs/tpmcore/cmdpolicy"
)

// Rules are what the manager enforces on the spaces of callers that are
// not admins: which commands they may send, and how much of the TPM one
// uid may hold across all of its spaces.
type Rules struct {
	// Policy decides which commands a non-admin caller may send.
	Policy cmdpolicy.Level
	// Quota bounds each non-admin uid; nil is no bound beyond the
	// per-space MaxObjects and MaxSessions.
	Quota *Quota
	// Admins are the uids that neither Policy nor Quota restricts (root
	// and the mount's owner).
	Admins []uint32
}

// Quota is what one uid may hold through all of its open spaces at once.
type Quota struct {
	// Objects: transient objects (primaries, keys, sequences), each
	// kept as a saved context.
	Objects int
	// Sessions: sessions, the ones the manager keeps for the uid's
	// spaces and the ones its clients saved themselves, until they are
	// flushed or loaded by someone else, whether or not the space that
	// saved them is still open.
	Sessions int
	// Opens: spaces (open tpmrm0 files).
	Opens int
}

// ErrTooManyOpen: the caller's uid has as many spaces open as its quota
// allows.
var ErrTooManyOpen = errors.New("too many open raw TPM clients for this user (rm_quota=)")

// SetRules sets the rules for spaces made from now on and for every
// command from now on. Before it is called, nothing is restricted.
func (m *Manager) SetRules(r Rules) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Quota != nil {
		q := *r.Quota
		r.Quota = &q
	}
	r.Admins = slices.Clone(r.Admins)
	m.rules = r
}

// NewSpace returns an empty space for one client of uid. Flush ends it.
// A non-admin uid past its quota of open spaces gets ErrTooManyOpen.
func (m *Manager) NewSpace(uid uint32) (*Space, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp := newSpace(uid, m.isAdmin(uid))
	if q := m.quota(sp); q != nil && m.opensOf(uid) >= q.Opens {
		m.log.WithFields(logrus.Fields{"uid": uid, "opens": q.Opens}).Info("tpmrm0: open refused: the user has its quota of open files")
		return nil, ErrTooManyOpen
	}
	m.spaces[sp] = struct{}{}
	return sp, nil
}

// NewInternalSpace returns a space for the manager's caller's own
// operations (tpmcore's sealing): no command policy, no quota, and when
// the TPM has no session handle left for one of its commands, the
// manager takes one back from a client (as Reclaim does). Its contexts
// are resident and swapped like any client's, so the caller's keys and
// sessions share the TPM's slots with the clients'.
func (m *Manager) NewInternalSpace() *Space {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp := newSpace(0, true)
	sp.internal = true
	m.spaces[sp] = struct{}{}
	return sp
}

func (m *Manager) isAdmin(uid uint32) bool { return slices.Contains(m.rules.Admins, uid) }

// quota is the quota sp's uid is held to, or nil.
func (m *Manager) quota(sp *Space) *Quota {
	if sp.admin {
		return nil
	}
	return m.rules.Quota
}

// refuse applies the command policy to a parsed command of a non-admin
// space; a refused command gets its response here, and one log line.
func (m *Manager) refuse(sp *Space, c command, cmd []byte) ([]byte, bool) {
	if sp.admin || m.rules.Policy == cmdpolicy.Open {
		return nil, false
	}
	handles := make([]uint32, c.attr.handles)
	r0 := tpmwire.NewReader(cmd[handleOff(0):])
	for i := range handles {
		handles[i] = r0.U32() // parseCommand checked the handle area
	}
	r := cmdpolicy.Check(m.rules.Policy, c.cc, handles)
	if !r.Refused() {
		return nil, false
	}
	m.log.WithFields(logrus.Fields{
		"uid":       sp.uid,
		"command":   cmdpolicy.Name(c.cc),
		"rm_policy": m.rules.Policy.String(),
		"rc":        fmt.Sprintf("%#x", RMLayer|uint32(r.RC)),
	}).Warnf("tpmrm0: command refused: %s", r.Reason)
	return errorResponse(r.RC), true
}
