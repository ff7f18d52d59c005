package sealing

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors; returned errors wrap them with context.
var (
	// ErrPolicy: the PCRs do not hold the values the object is sealed
	// to. The error is also a *PolicyError.
	ErrPolicy = errors.New("PCR policy not satisfied")
	// ErrWrongTPM: the TPM refused the object as not its own (sealed on
	// another TPM, or before its owner hierarchy was cleared, or the TPM
	// blob was altered, which the TPM cannot tell apart).
	ErrWrongTPM = errors.New("sealed object belongs to another TPM")
	// ErrCorrupt: the object is malformed or inconsistent, or its
	// ciphertext does not open under its name (altered or renamed).
	ErrCorrupt = errors.New("sealed object corrupt or renamed")
	// ErrOwnerAuth: the owner hierarchy's authorization was refused.
	ErrOwnerAuth = errors.New("owner hierarchy authorization failed")
	// ErrPCRUnavailable: a selected PCR bank is not active on this TPM.
	ErrPCRUnavailable = errors.New("selected PCR not available on this TPM")
	// ErrTooLarge: the secret exceeds MaxSecretSize.
	ErrTooLarge = errors.New("secret too large")
	// ErrUnsupported: the TPM family cannot do what the binding asks
	// (signed PCR policies on a TPM 1.2).
	ErrUnsupported = errors.New("not supported by this TPM")
)

// MaxSecretSize is the largest secret Seal accepts.
const MaxSecretSize = 1 << 20

// PolicyError reports an unseal refused because PCRs moved. It satisfies
// errors.Is(err, ErrPolicy).
type PolicyError struct {
	// Differ holds the current values of the selected PCRs whose value
	// differs from the sealed-to one, in selection order. It may be empty
	// when the PCRs changed back before they could be read again.
	Differ []PCRValue
	// Signed reports that the object opens under signed PCR policies and
	// none of them matches the PCRs; Unsigned holds the current values of
	// the PCRs those policies cover (none: there is no usable policy).
	Signed   bool
	Unsigned []PCRValue
}

func (e *PolicyError) Error() string {
	msg := ErrPolicy.Error()
	if e.Signed {
		if len(e.Unsigned) == 0 {
			msg += ": no signed PCR policy for the sha256 bank (write one to pcrsig)"
		} else {
			msg += ": no signed PCR policy matches the current values of " + names(e.Unsigned)
		}
	}
	if len(e.Differ) > 0 {
		msg += ": PCRs differ from sealed-to values: " + names(e.Differ)
	}
	return msg
}

func names(vals []PCRValue) string {
	n := make([]string, len(vals))
	for i, v := range vals {
		n[i] = v.String()
	}
	return strings.Join(n, " ")
}

// Is makes errors.Is(err, ErrPolicy) hold.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// String names the PCR in selection syntax: "sha256:7".
func (v PCRValue) String() string { return v.Bank + ":" + strconv.Itoa(v.Index) }
