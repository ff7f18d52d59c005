package vault

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/sealing"
)

// unsealLog is what status tells of an object's last unseals: they are
// kept in memory, per identity, while mounted.
type unsealLog struct {
	ok       time.Time // the last unseal that succeeded
	failed   time.Time // the last that did not
	failure  string    // and why
	failures int       // how many failed since mounted
}

// noteUnseal records the outcome of an unseal of object id.
func (v *Vault) noteUnseal(id string, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.aliveIDLocked(id) {
		return
	}
	l := v.unseals[id]
	if l == nil {
		l = &unsealLog{}
		v.unseals[id] = l
	}
	now := time.Now().UTC()
	if err == nil {
		l.ok = now
		return
	}
	l.failed, l.failure = now, err.Error()
	l.failures++
}

// aliveIDLocked reports whether an object of identity id is known. v.mu
// held.
func (v *Vault) aliveIDLocked(id string) bool {
	for _, e := range v.index {
		if e.id == id {
			return true
		}
	}
	return false
}

// statusText is seal/NAME/status: "key: value" lines that say, without
// the log, whether and why the object opens: its PCRs' sealed-to and
// current values, the signed policies and whether one matches, the
// parent key and whether the object belongs to this TPM, and the last
// unseal failure. A TPM that cannot be asked is a line too, not an error.
func (v *Vault) statusText(ctx context.Context, rec *sealstore.Record) []byte {
	var b strings.Builder
	line := func(key, format string, a ...any) {
		fmt.Fprintf(&b, "%s: %s\n", key, fmt.Sprintf(format, a...))
	}
	line("object", "%s", rec.Name)
	if rec.Sealed == nil {
		line("data", "none")
	} else {
		line("data", "sealed, %d bytes", secretSize(rec))
		line("policy", "%s", orNone(hex.EncodeToString(rec.Sealed.Policy)))
	}
	line("pcrs", "%s", orNone(rec.Selection))
	bind, err := v.binding(rec)
	var r *tpmcore.SealReport
	if err == nil {
		r, err = v.tpm.Inspect(ctx, rec.Name, bind, rec.Sealed, rec.Signatures)
	}
	if bind.AuthKey != nil {
		line("authkey", "%s, fingerprint %x", bind.AuthKey.Kind(), bind.AuthKey.Fingerprint())
	}
	if err != nil {
		line("tpm-error", "%v", err)
	} else {
		v.reportLines(line, rec, bind, r)
	}
	v.mu.Lock()
	l := v.unseals[rec.ID]
	v.mu.Unlock()
	switch {
	case l == nil:
		line("last-unseal", "none since mounted")
	case !l.ok.IsZero():
		line("last-unseal", "%s ok", l.ok.Format(time.RFC3339))
	}
	if l != nil && l.failures > 0 {
		line("last-failure", "%s %s", l.failed.Format(time.RFC3339), l.failure)
		line("failures", "%d since mounted", l.failures)
	}
	return []byte(b.String())
}

// reportLines adds what Inspect found, and what an unseal would meet now.
func (v *Vault) reportLines(line func(key, format string, a ...any), rec *sealstore.Record, bind tpmcore.Binding, r *tpmcore.SealReport) {
	var blockers []string
	sealed := rec.Sealed != nil
	for _, c := range r.PCRs {
		key := "pcr " + c.PCRValue.String()
		predicted := ""
		if c.Given {
			predicted = " (predicted)"
		}
		switch {
		case c.Want == nil:
			line(key, "current=%x (sealed to the value it has when data is written)", c.Digest)
		case !c.Matches():
			blockers = append(blockers, c.PCRValue.String()+" differs")
			label := "to-seal"
			if sealed {
				label = "sealed-to"
			}
			line(key, "differs %s=%x current=%x%s", label, c.Want, c.Digest, predicted)
		default:
			label := "to-seal"
			if sealed {
				label = "sealed-to"
			}
			line(key, "matches %s=%x current=%x%s", label, c.Want, c.Digest, predicted)
		}
	}
	if bind.AuthKey != nil {
		for _, now := range r.SignedNow {
			line("signed "+now.String(), "current=%x", now.Digest)
		}
		matched := false
		for i, s := range r.Signed {
			p := s.Policy
			state := "does not match the current values"
			switch {
			case !s.Usable:
				state = "not usable: the TPM takes only sha256-bank policies for this key"
			case s.Matches:
				state, matched = "matches the current values", true
			}
			line(fmt.Sprintf("pcrsig %d", i+1), "%s policy=%x %s", p.PCRs, p.Digest, state)
		}
		switch {
		case len(r.Signed) == 0:
			line("pcrsig", "none (write policies signed by the authkey to pcrsig)")
			blockers = append(blockers, "no signed policy")
		case !matched:
			blockers = append(blockers, "no signed policy matches the current PCRs")
		}
	}
	if len(r.Parent) > 0 {
		line("parent", "storage root key (owner hierarchy, TCG ECC NIST P-256 template) name=%x", r.Parent)
	} else {
		line("parent", "storage root key of the TPM's owner (TPM 1.2 SRK)")
	}
	switch r.Belongs {
	case sealing.BelongsHere:
		line("tpm", "this TPM: %s", r.Why)
	case sealing.BelongsElsewhere:
		line("tpm", "another TPM: %s", r.Why)
		blockers = append(blockers, "sealed on another TPM")
	default:
		if sealed {
			line("tpm", "unknown: %s", r.Why)
		} else {
			line("tpm", "nothing sealed yet")
		}
	}
	if !sealed {
		return
	}
	if len(blockers) == 0 {
		line("unseal", "would succeed now")
	} else {
		line("unseal", "would fail now: %s", strings.Join(blockers, "; "))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
