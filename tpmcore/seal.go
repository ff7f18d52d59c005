package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
	"tpmfs/tpmcore/sealing"
)

// Sealed is a sealed secret as kept on disk (see sealing.Object).
type Sealed = sealing.Object

// Selection is a PCR selection (tpm2-tools syntax, see pcrsel).
type Selection = pcrsel.Selection

// Spec is a PCR selection whose PCRs may carry given values
// ("sha256:0,7=HEX", see pcrsel).
type Spec = pcrsel.Spec

// Binding is what a secret is sealed to: PCRs (with given or current
// values) and, on a TPM 2.0, a key that signs PCR policies.
type Binding = sealing.Binding

// AuthKey is a public key that signs PCR policies (seal/NAME/authkey).
type AuthKey = pcrsig.Key

// Signatures are signed PCR policies in systemd's format
// (seal/NAME/pcrsig).
type Signatures = pcrsig.Set

// SealReport is what Inspect finds out about a sealed object.
type SealReport = sealing.Report

// PolicyError lists the PCRs whose values differ from the sealed-to ones.
type PolicyError = sealing.PolicyError

// Errors of sealed objects.
var (
	// ErrPolicy: the PCR policy does not hold (callers map it to EACCES).
	ErrPolicy = sealing.ErrPolicy
	// ErrWrongTPM: the object was sealed by another TPM (or its seeds changed).
	ErrWrongTPM = sealing.ErrWrongTPM
	// ErrCorrupt: the sealed data does not authenticate (tampered, renamed).
	ErrCorrupt = sealing.ErrCorrupt
)

// MaxSecret is the largest secret tpmfs seals (the contract's 1 MiB).
const MaxSecret = sealing.MaxSecretSize

// sealTimeout bounds a seal or unseal: a handful of commands, one of them
// a key creation that may be slow on a real chip.
const sealTimeout = 30 * time.Second

// ParseSelection parses a PCR selection in tpm2-tools syntax and checks
// that every bank it names is active on this TPM.
func (c *Core) ParseSelection(s string) (Selection, error) {
	sel, err := pcrsel.Parse(s)
	if err != nil {
		return Selection{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for _, b := range sel.Banks() {
		if _, ok := c.Bank(b.Name); !ok {
			return Selection{}, fmt.Errorf("%w: bank %s is not active on this TPM", ErrInvalid, b.Name)
		}
	}
	return sel, nil
}

// ParseSpec parses a PCR spec (a selection in tpm2-tools syntax whose
// PCRs may carry given values) and checks that every bank it names is
// active on this TPM.
func (c *Core) ParseSpec(s string) (Spec, error) {
	spec, err := pcrsel.ParseSpec(s)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for _, b := range spec.Selection().Banks() {
		if _, ok := c.Bank(b.Name); !ok {
			return Spec{}, fmt.Errorf("%w: bank %s is not active on this TPM", ErrInvalid, b.Name)
		}
	}
	return spec, nil
}

// ParseAuthKey parses a PEM public key that is to sign an object's PCR
// policies: ErrUnsupported on a TPM 1.2, ErrInvalid for anything but one
// RSA-2048 or ECC NIST P-256 key.
func (c *Core) ParseAuthKey(pem []byte) (*AuthKey, error) {
	if err := c.SignedPolicies(); err != nil {
		return nil, err
	}
	k, err := pcrsig.ParseKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return k, nil
}

// Seal seals secret for the object name, bound as b says.
func (c *Core) Seal(ctx context.Context, name string, b Binding, secret []byte) (*Sealed, error) {
	if len(secret) > MaxSecret {
		return nil, fmt.Errorf("seal %s: %w: %d bytes, at most %d", name, ErrTooLarge, len(secret), MaxSecret)
	}
	return sealCall(c, ctx, "seal "+name, func(t transport.TPM) (*Sealed, error) {
		return c.fam.seal(t, name, b, secret)
	})
}

// Unseal returns the secret of object name if the TPM's PCRs satisfy its
// policy, with one of the signed policies sigs for an object sealed with
// an authkey (ErrPolicy, with a *PolicyError, otherwise).
func (c *Core) Unseal(ctx context.Context, name string, obj *Sealed, sigs *Signatures) ([]byte, error) {
	return sealCall(c, ctx, "unseal "+name, func(t transport.TPM) ([]byte, error) {
		return c.fam.unseal(t, name, obj, sigs)
	})
}

// Reseal seals the secret of obj anew as b says; the old policy must hold
// (with sigs, as for Unseal).
func (c *Core) Reseal(ctx context.Context, name string, obj *Sealed, sigs *Signatures, b Binding) (*Sealed, error) {
	return sealCall(c, ctx, "reseal "+name, func(t transport.TPM) (*Sealed, error) {
		return c.fam.reseal(t, name, obj, sigs, b)
	})
}

// Inspect reports on the object name, bound as b, with data sealed as
// obj (nil: none) and signed policies sigs: current PCR values against
// the sealed-to ones, matching signed policies, and whether obj belongs
// to this TPM. It changes nothing.
func (c *Core) Inspect(ctx context.Context, name string, b Binding, obj *Sealed, sigs *Signatures) (*SealReport, error) {
	return sealCall(c, ctx, "inspect "+name, func(t transport.TPM) (*SealReport, error) {
		return c.fam.inspect(t, b, obj, sigs)
	})
}

// sealCall runs op, one of the family's sealing operations, as a seal
// job bounded by sealTimeout unless the caller has a deadline.
func sealCall[T any](c *Core, ctx context.Context, what string, op func(t transport.TPM) (T, error)) (T, error) {
	ctx, cancel := sealContext(ctx)
	defer cancel()
	return jobCall(ctx, c.fam.sealJob, what, op)
}

// jobCall runs op through job (a family's sealJob or attestJob) and
// returns its result, its error naming what failed.
func jobCall[T any](ctx context.Context, job func(context.Context, func(transport.TPM) error) error,
	what string, op func(t transport.TPM) (T, error)) (T, error) {
	var out T
	err := job(ctx, func(t transport.TPM) (err error) {
		out, err = op(t)
		return err
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// sealContext bounds a seal operation by sealTimeout unless the caller
// has a deadline.
func sealContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, sealTimeout)
}

// sealErr maps the errors of a sealing job to tpmcore's sentinels; what
// package sealing does not name is left to the family's classify.
func sealErr(err error, classify func(op string, err error) error) error {
	switch {
	case err == nil, errors.Is(err, ErrPolicy), errors.Is(err, ErrWrongTPM),
		errors.Is(err, ErrCorrupt), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, sealing.ErrOwnerAuth):
		return fmt.Errorf("%w: %w (check srk_auth=)", ErrNotAllowed, err)
	case errors.Is(err, sealing.ErrPCRUnavailable), errors.Is(err, sealing.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case errors.Is(err, sealing.ErrUnsupported):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return classify("tpm", err)
}

// Bind is the binding to the values the PCRs of sel have at seal time.
func Bind(sel Selection) Binding { return sealing.Bind(sel) }

// SignedPolicies reports whether objects may be sealed with an authkey
// (seal/NAME/authkey, pcrsig): ErrUnsupported on a TPM 1.2.
func (c *Core) SignedPolicies() error { return c.fam.signedPolicies() }
