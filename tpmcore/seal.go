package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/sealing"
)

// Sealed is a sealed secret as kept on disk (see sealing.Object).
type Sealed = sealing.Object

// Selection is a PCR selection (tpm2-tools syntax, see pcrsel).
type Selection = pcrsel.Selection

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
const MaxSecret = 1 << 20

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

// Seal seals secret for the object name, bound to the PCRs in sel.
func (c *Core) Seal(ctx context.Context, name string, sel Selection, secret []byte) (*Sealed, error) {
	if len(secret) > MaxSecret {
		return nil, fmt.Errorf("seal %s: %w: %d bytes, at most %d", name, ErrTooLarge, len(secret), MaxSecret)
	}
	var obj *Sealed
	err := c.sealJob(ctx, func(t transport.TPM) (err error) {
		if c.v12 != nil {
			obj, err = sealing.Seal12(t, c.v12.srkAuth, name, sel, secret)
		} else {
			obj, err = sealing.Seal(t, c.opts.OwnerAuth, name, sel, secret)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", name, err)
	}
	return obj, nil
}

// Unseal returns the secret of object name if the TPM's PCRs satisfy its
// policy (ErrPolicy, with a *PolicyError, otherwise).
func (c *Core) Unseal(ctx context.Context, name string, obj *Sealed) ([]byte, error) {
	var secret []byte
	err := c.sealJob(ctx, func(t transport.TPM) (err error) {
		if c.v12 != nil {
			secret, err = sealing.Unseal12(t, c.v12.srkAuth, name, obj)
		} else {
			secret, err = sealing.Unseal(t, c.opts.OwnerAuth, name, obj)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unseal %s: %w", name, err)
	}
	return secret, nil
}

// Reseal seals the secret of obj anew under sel; the old policy must hold.
func (c *Core) Reseal(ctx context.Context, name string, obj *Sealed, sel Selection) (*Sealed, error) {
	var out *Sealed
	err := c.sealJob(ctx, func(t transport.TPM) (err error) {
		if c.v12 != nil {
			out, err = sealing.Reseal12(t, c.v12.srkAuth, name, obj, sel)
		} else {
			out, err = sealing.Reseal(t, c.opts.OwnerAuth, name, obj, sel)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reseal %s: %w", name, err)
	}
	return out, nil
}

// sealJob runs a seal operation as one exclusive queue job, so no other
// command lands between its create, load and flush (on a TPM 1.2, no
// TSS command between its OSAP and its Seal or Unseal), and maps its
// errors to tpmcore's sentinels.
func (c *Core) sealJob(ctx context.Context, fn func(t transport.TPM) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sealTimeout)
		defer cancel()
	}
	if c.v12 != nil {
		return sealErr12(c.do12(ctx, true, fn))
	}
	err := c.q.do(ctx, c.reclaiming(fn))
	switch {
	case err == nil, errors.Is(err, ErrPolicy), errors.Is(err, ErrWrongTPM),
		errors.Is(err, ErrCorrupt), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, sealing.ErrOwnerAuth):
		return fmt.Errorf("%w: %w (check srk_auth=)", ErrNotAllowed, err)
	case errors.Is(err, sealing.ErrPCRUnavailable), errors.Is(err, sealing.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return classify("tpm", err)
}
