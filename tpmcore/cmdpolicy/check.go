package cmdpolicy

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Refusal says why a command may not run and what the client is told.
// The zero Refusal lets the command run.
type Refusal struct {
	// RC is the response code, without a layer: TPM_RC_DISABLED for a
	// refused command, TPM_RC_HIERARCHY naming the handle for a refused
	// authorisation. The caller adds its own layer.
	RC     tpm2.TPMRC
	Reason string
}

// Refused reports whether the command is refused.
func (r Refusal) Refused() bool { return r.RC != tpm2.TPMRCSuccess }

// Check decides whether a caller held to l may send command cc, whose
// handle area holds handles (as the client sent them).
func Check(l Level, cc uint32, handles []uint32) Refusal {
	if l == Open {
		return Refusal{}
	}
	r, known := table[cc]
	if !known {
		return Refusal{RC: tpm2.TPMRCDisabled, Reason: "not in the rm_policy table, so what it does is not known"}
	}
	if r.verdict(l) == deny {
		return Refusal{RC: tpm2.TPMRCDisabled, Reason: r.why}
	}
	for i, h := range handles {
		c := classOf(h)
		if c == 0 || r.may&c != 0 {
			continue
		}
		if c == pcr {
			return Refusal{RC: tpm2.TPMRCDisabled, Reason: fmt.Sprintf("extends PCR %d, which changes it for every user", h)}
		}
		return Refusal{
			RC:     tpm2.TPMRCHierarchy | tpm2.TPMRC((i+1)<<8), // format 1: handle i+1
			Reason: fmt.Sprintf("authorised by the %s hierarchy, which this command may not use below rm_policy=open", c),
		}
	}
	return Refusal{}
}

// Name is a command's name as tpm2-tools print it ("TPM2_CC_Clear"), or
// its code in hex.
func Name(cc uint32) string {
	if r, ok := table[cc]; ok {
		return "TPM2_CC_" + r.name
	}
	return fmt.Sprintf("0x%08x", cc)
}

type verdict bool

const (
	allow verdict = true
	deny  verdict = false
)

func (r rule) verdict(l Level) verdict {
	if l == Strict {
		return r.strict
	}
	return r.standard
}

// class is a kind of handle the table restricts: the hierarchies (by
// their authorisation) and PCRs. Other handles — transient and persistent
// objects, NV indices, sessions — carry their own authorisation, so a
// class of 0.
type class uint8

const (
	owner class = 1 << iota
	endorsement
	platform
	lockout
	pcr
	otherPermanent // vendor authorisation handles, ACT timers, anything newer
)

const anyHierarchy = owner | endorsement | platform | lockout | otherPermanent

func (c class) String() string {
	switch c {
	case owner:
		return "owner"
	case endorsement:
		return "endorsement"
	case platform:
		return "platform"
	case lockout:
		return "lockout"
	case pcr:
		return "PCR"
	}
	return "vendor or reserved"
}

// Permanent handles (Part 2, 7.4). The firmware- and SVN-limited
// hierarchies of newer TPMs count as the hierarchy they limit.
const (
	rhOwner         = 0x40000001
	rhNull          = 0x40000007
	rhLockout       = 0x4000000A
	rhEndorsement   = 0x4000000B
	rhPlatform      = 0x4000000C
	rhPlatformNV    = 0x4000000D
	rhFWOwner       = 0x40000140
	rhFWEndorsement = 0x40000141
	rhFWPlatform    = 0x40000142
	rhFWNull        = 0x40000143
	rhSVNOwner      = 0x4001 // high half of TPM_RH_SVN_OWNER_BASE + svn
	rhSVNEndorse    = 0x4002
	rhSVNPlatform   = 0x4003
	rhSVNNull       = 0x4004
)

// classOf returns the class of a handle, 0 for one the table does not
// restrict (including TPM_RH_NULL, which authorises nothing).
func classOf(h uint32) class {
	switch h >> 24 {
	case 0x00:
		return pcr
	case 0x40:
	default:
		return 0
	}
	switch h {
	case rhOwner, rhFWOwner:
		return owner
	case rhEndorsement, rhFWEndorsement:
		return endorsement
	case rhPlatform, rhPlatformNV, rhFWPlatform:
		return platform
	case rhLockout:
		return lockout
	case rhNull, rhFWNull:
		return 0
	}
	switch h >> 16 {
	case rhSVNOwner:
		return owner
	case rhSVNEndorse:
		return endorsement
	case rhSVNPlatform:
		return platform
	case rhSVNNull:
		return 0
	}
	return otherPermanent
}
