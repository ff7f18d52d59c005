package tpm12

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for a TPM refusal
// wraps at most one of them and the RC itself (reachable with errors.As).
var (
	// ErrNotOwned: the TPM has no owner, hence no SRK to seal under.
	ErrNotOwned = errors.New("TPM 1.2 has no owner: take ownership first, " +
		"e.g. with TrouSerS' tpm_takeownership -z (well-known SRK secret)")
	// ErrPolicy: the PCRs do not hold the values the blob is sealed to.
	ErrPolicy = errors.New("PCR values differ from those the data is sealed to")
	// ErrAuth: the SRK (or sealed data) secret was refused.
	ErrAuth = errors.New("TPM 1.2 authorization failed (wrong SRK secret?)")
	// ErrLockout: the TPM's dictionary-attack defence refuses
	// authorizations for a while after repeated failures.
	ErrLockout = errors.New("TPM 1.2 dictionary-attack lockout in effect")
	// ErrLocality: the PCR cannot be extended (or reset) from this
	// locality (PCRs 17-22 on a PC client TPM).
	ErrLocality = errors.New("not allowed from this locality")
	// ErrBadIndex: no such PCR on this TPM.
	ErrBadIndex = errors.New("no such PCR")
	// ErrWrongTPM: the TPM does not accept the blob as sealed by it (another
	// TPM, or an SRK replaced since by a new owner).
	ErrWrongTPM = errors.New("sealed blob not from this TPM's current SRK")
	// ErrCorrupt: the blob is not a TPM 1.2 sealed-data structure.
	ErrCorrupt = errors.New("malformed TPM 1.2 sealed blob")
	// ErrDisabled: the TPM is disabled or deactivated (firmware setting,
	// or tpm_setenable/tpm_setactive).
	ErrDisabled = errors.New("TPM 1.2 disabled or deactivated")
	// ErrResources: the TPM has no room for one more session or key (a
	// TSS sharing it may hold them); trying later may succeed.
	ErrResources = errors.New("TPM 1.2 out of session or key slots")
	// ErrInvalid: the caller's input is malformed.
	ErrInvalid = errors.New("invalid argument")
)

// RC is a TPM 1.2 response code (TPM_RESULT) returned by the TPM.
type RC uint32

// TPM 1.2 response codes this package tells apart (TPM Main Part 2,
// section 16).
const (
	rcAuthFail        RC = 0x01
	rcBadIndex        RC = 0x02
	rcBadParameter    RC = 0x03
	rcDeactivated     RC = 0x06
	rcDisabled        RC = 0x07
	rcInvalidKeyHndl  RC = 0x0C
	rcKeyNotFound     RC = 0x0D
	rcNoSpace         RC = 0x11
	rcNoSRK           RC = 0x12
	rcNotSealedBlob   RC = 0x13
	rcResources       RC = 0x15
	rcWrongPCRVal     RC = 0x18
	rcAuth2Fail       RC = 0x1D
	rcBadTag          RC = 0x1E
	rcDecryptError    RC = 0x21
	rcInvalidAuthHndl RC = 0x22
	rcNotLocal        RC = 0x33
	rcBadLocality     RC = 0x3D
	rcRetry           RC = 0x800
	rcDoingSelfTest   RC = 0x802
	rcDefendLock      RC = 0x803
)

var rcNames = map[RC]string{
	rcAuthFail:        "TPM_AUTHFAIL",
	rcBadIndex:        "TPM_BADINDEX",
	rcBadParameter:    "TPM_BAD_PARAMETER",
	rcDeactivated:     "TPM_DEACTIVATED",
	rcDisabled:        "TPM_DISABLED",
	rcInvalidKeyHndl:  "TPM_INVALID_KEYHANDLE",
	rcKeyNotFound:     "TPM_KEYNOTFOUND",
	rcNoSpace:         "TPM_NOSPACE",
	rcNoSRK:           "TPM_NOSRK",
	rcNotSealedBlob:   "TPM_NOTSEALED_BLOB",
	rcResources:       "TPM_RESOURCES",
	rcWrongPCRVal:     "TPM_WRONGPCRVAL",
	rcAuth2Fail:       "TPM_AUTH2FAIL",
	rcBadTag:          "TPM_BADTAG",
	rcDecryptError:    "TPM_DECRYPT_ERROR",
	rcInvalidAuthHndl: "TPM_INVALID_AUTHHANDLE",
	rcNotLocal:        "TPM_NOT_LOCAL",
	rcBadLocality:     "TPM_BAD_LOCALITY",
	rcRetry:           "TPM_RETRY",
	rcDoingSelfTest:   "TPM_DOING_SELFTEST",
	rcDefendLock:      "TPM_DEFEND_LOCK_RUNNING",
}

func (rc RC) Error() string {
	if n, ok := rcNames[rc]; ok {
		return fmt.Sprintf("TPM 1.2 error %#x (%s)", uint32(rc), n)
	}
	return fmt.Sprintf("TPM 1.2 error %#x", uint32(rc))
}

// Temporary reports whether the same command may succeed if sent again
// a little later (TPM_RETRY, TPM_DOING_SELFTEST).
func (rc RC) Temporary() bool { return rc == rcRetry || rc == rcDoingSelfTest }

// sentinel returns the sentinel rc belongs to, or nil.
func (rc RC) sentinel() error {
	switch rc {
	case rcWrongPCRVal:
		return ErrPolicy
	case rcAuthFail, rcAuth2Fail:
		return ErrAuth
	case rcDefendLock:
		return ErrLockout
	case rcNoSRK:
		return ErrNotOwned
	case rcBadLocality, rcNotLocal:
		return ErrLocality
	case rcBadIndex:
		return ErrBadIndex
	case rcNotSealedBlob, rcDecryptError:
		return ErrWrongTPM
	case rcDisabled, rcDeactivated:
		return ErrDisabled
	case rcResources, rcNoSpace:
		return ErrResources
	}
	return nil
}

// wrap returns err with context op, and, when the TPM refused, with the
// sentinel of its response code and the code itself.
func wrap(op string, rc RC, err error) error {
	if rc == 0 {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s := rc.sentinel(); s != nil {
		return fmt.Errorf("%s: %w: %w", op, s, rc)
	}
	return fmt.Errorf("%s: %w", op, rc)
}
