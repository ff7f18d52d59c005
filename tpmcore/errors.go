package tpmcore

import (
	"errors"
	"fmt"
	iofs "io/fs"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tpmcore/nv"
	"tpmfs/tpmcore/rm"
	"tpmfs/tpmcore/tpm12"
)

// Sentinel errors that callers map to errno. Every error tpmcore returns
// wraps at most one of them.
var (
	// ErrInvalid: the caller's input is malformed (bad digest, bank, index).
	ErrInvalid = errors.New("invalid argument")
	// ErrTooLarge: the input exceeds a size limit.
	ErrTooLarge = errors.New("too large")
	// ErrNotAllowed: the TPM refuses the operation from this locality or
	// hierarchy state (e.g. extending PCR 17 from locality 0).
	ErrNotAllowed = errors.New("not allowed by the TPM")
	// ErrUnavailable: the TPM cannot be reached, timed out, or sent garbage.
	ErrUnavailable = errors.New("TPM unavailable")
	// ErrUnsupported: the TPM lacks what the operation needs.
	ErrUnsupported = errors.New("not supported by this TPM")
	// ErrClosed: the core was closed.
	ErrClosed = errors.New("tpmcore closed")
	// ErrBusy: the raw channel of a TPM 1.2 is a passthrough with one
	// opener at a time, like the kernel's /dev/tpm0, and it has one.
	ErrBusy = errors.New("raw TPM channel already open")
	// ErrCommandTooLarge: a raw command longer than MaxCommand, which
	// /dev/tpmrm0 refuses with E2BIG.
	ErrCommandTooLarge = errors.New("raw command too large")
	// ErrResponseUnread: a raw client sent a command before reading the
	// last response, which /dev/tpmrm0 refuses with EBUSY.
	ErrResponseUnread = errors.New("the last response was not read")
	// ErrTooManyOpen: the caller's uid has as many raw channels open as
	// its quota (Options.RawRules) allows.
	ErrTooManyOpen = rm.ErrTooManyOpen
	// ErrNotOwned: a TPM 1.2 without an owner has no storage root key to
	// seal under; the message tells the administrator what to do.
	ErrNotOwned = tpm12.ErrNotOwned
	// ErrAuth: the TPM refused an authorisation: an NV index whose auth
	// value is not the empty one tpmfs uses, a credential that is not
	// for this attestation key and endorsement key.
	ErrAuth = errors.New("authorisation refused by the TPM")
	// ErrNoData: an NV index that was never written.
	ErrNoData = nv.ErrUnwritten
	// ErrStale: an NV index opened earlier was undefined or redefined.
	ErrStale = nv.ErrChanged
	// ErrNoSpace: the TPM has no NV space left for a new index.
	ErrNoSpace = errors.New("TPM out of NV space")
	// ErrNotFound and ErrExists: an NV index that is not defined, or
	// already is (io/fs's, which callers map as for files).
	ErrNotFound = iofs.ErrNotExist
	ErrExists   = iofs.ErrExist
)

// RC returns the TPM response code carried by err, if any.
func RC(err error) (tpm2.TPMRC, bool) {
	var rc tpm2.TPMRC
	if errors.As(err, &rc) {
		return rc, true
	}
	return 0, false
}

// classify wraps a TPM response code error in the sentinel it belongs to,
// keeping the code reachable through errors.As.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	rc, ok := RC(err)
	if !ok || errors.Is(err, ErrUnavailable) {
		// Keep the whole chain: a TPM that kept answering RETRY is
		// unavailable, with its code still reachable.
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case errors.Is(rc, tpm2.TPMRCLocality):
		return fmt.Errorf("%s: %w: %w", op, ErrNotAllowed, rc)
	case errors.Is(rc, tpm2.TPMRCValue), errors.Is(rc, tpm2.TPMRCSize),
		errors.Is(rc, tpm2.TPMRCHash):
		return fmt.Errorf("%s: %w: %w", op, ErrInvalid, rc)
	}
	return fmt.Errorf("%s: %w", op, rc)
}
