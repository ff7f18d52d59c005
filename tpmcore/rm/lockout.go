package rm

import (
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"

	"tpmfs/internal/tpmwire"
)

// The dictionary-attack guard. A TPM counts failed authorizations of
// DA-protected entities in one counter for everyone; at TPM_PT_MAX_AUTH_FAIL
// it refuses every such authorization (lockout) until the counter decays,
// one every TPM_PT_LOCKOUT_INTERVAL seconds. Left alone, a user who may
// open tpmrm0 could lock out every other user, and root, with a few wrong
// passwords. So non-admin spaces may spend only part of the counter:
//   - each uid at most its share (uidStrikes) of failures that have not
//     decayed yet, and
//   - all of them together only up to maxTries - adminReserve, so that
//     admins always keep some tries;
// past either, the uid's authorized commands get TPM_RC_LOCKOUT from the
// manager (RMLayer), before the TPM sees them, until the failures decay.
// Admins are never held back. Entities with noDA (tpmfs's own sealed
// objects and keys) fail with TPM_RC_BAD_AUTH, which the TPM does not
// count, and neither does the guard.

// da is the guard's state; the manager's lock guards it.
type da struct {
	known    bool          // the TPM's parameters were read
	maxTries uint32        // TPM_PT_MAX_AUTH_FAIL
	interval time.Duration // TPM_PT_LOCKOUT_INTERVAL
	counter  uint32        // TPM_PT_LOCKOUT_COUNTER when last read
	// strikes holds, per non-admin uid, when each of its failures will
	// have decayed.
	strikes map[uint32][]time.Time
	// now is time.Now, replaceable in tests.
	now func() time.Time
}

// adminReserve is how many tries of the counter non-admins never spend.
func (d *da) adminReserve() uint32 { return max(1, d.maxTries/4) }

// uidStrikes is how many undecayed failures one non-admin uid may have.
func (d *da) uidStrikes() int {
	return max(1, int(d.maxTries-min(d.maxTries, d.adminReserve()))/4)
}

// active reports whether the guard can work: a TPM with no lockout
// (maxTries 0 locks out at once; interval 0 never decays) is left as is.
func (d *da) active() bool { return d.known && d.maxTries > 0 && d.interval > 0 }

// read reads the TPM's dictionary-attack state.
func (d *da) read(t transport.TPM) error {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTLockoutCounter),
		PropertyCount: 3,
	}.Execute(t)
	if err != nil {
		return err
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return err
	}
	for _, p := range props.TPMProperty {
		switch p.Property {
		case tpm2.TPMPTLockoutCounter:
			d.counter = p.Value
		case tpm2.TPMPTMaxAuthFail:
			d.maxTries = p.Value
		case tpm2.TPMPTLockoutInterval:
			d.interval = time.Duration(p.Value) * time.Second
		}
	}
	d.known = true
	return nil
}

// decay drops uid's failures that the TPM has forgiven by now.
func (d *da) decay(uid uint32) []time.Time {
	now := d.now()
	s := d.strikes[uid]
	for len(s) > 0 && !s[0].After(now) {
		s = s[1:]
	}
	if len(s) == 0 {
		delete(d.strikes, uid)
		return nil
	}
	d.strikes[uid] = s
	return s
}

// daRefuse is TPM_RC_LOCKOUT for an authorized command of a non-admin
// space whose uid, or all non-admins together, spent their part of the
// counter; else TPM_RC_SUCCESS.
func (m *Manager) daRefuse(t transport.TPM, sp *Space, c command) tpm2.TPMRC {
	d := &m.da
	if sp.admin || len(c.sessions) == 0 {
		return tpm2.TPMRCSuccess
	}
	if !d.known {
		if err := d.read(t); err != nil {
			m.log.WithError(err).Debug("tpmrm0: could not read the dictionary-attack parameters")
			return tpm2.TPMRCSuccess
		}
	}
	if !d.active() {
		return tpm2.TPMRCSuccess
	}
	if len(d.decay(sp.uid)) >= d.uidStrikes() {
		m.log.WithFields(logrus.Fields{"uid": sp.uid, "failures": d.uidStrikes()}).
			Warn("tpmrm0: authorization refused: the user's failed authorizations have not decayed yet (dictionary-attack guard)")
		return tpm2.TPMRCLockout
	}
	if d.counter >= d.maxTries-min(d.maxTries, d.adminReserve()) {
		// Read again: the counter decays with time.
		if err := d.read(t); err == nil && d.counter >= d.maxTries-min(d.maxTries, d.adminReserve()) {
			m.log.WithFields(logrus.Fields{"uid": sp.uid, "counter": d.counter, "max": d.maxTries}).
				Warn("tpmrm0: authorization refused: the dictionary-attack counter is near lockout; the rest is root's")
			return tpm2.TPMRCLockout
		}
	}
	return tpm2.TPMRCSuccess
}

// daNote counts a failed authorization: the uid's strike, and the
// counter read afresh (any space's failure, an admin's too, moves it).
func (m *Manager) daNote(t transport.TPM, sp *Space, rsp []byte) {
	d := &m.da
	h, ok := tpmwire.ParseHeader(rsp)
	if !ok || !isAuthFail(h.Code) || !d.known {
		return
	}
	d.read(t)
	if sp.admin || !d.active() {
		return
	}
	s := d.decay(sp.uid)
	at := d.now()
	if len(s) > 0 && s[len(s)-1].After(at) {
		at = s[len(s)-1]
	}
	d.strikes[sp.uid] = append(s, at.Add(d.interval))
}

// isAuthFail reports TPM_RC_AUTH_FAIL, the failure the counter counts
// (format one: it names the session).
func isAuthFail(code uint32) bool {
	return code&0x80 != 0 && code&0x3F == uint32(tpm2.TPMRCAuthFail)&0x3F
}
