package tpmcore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/sealing"
)

// The TPM 1.2 versions of Seal, Unseal and Reseal: the same envelope, its
// key sealed with TPM_Seal under the SRK (sealing.Seal12).

func (c *Core) seal12(ctx context.Context, name string, sel Selection, secret []byte) (*Sealed, error) {
	var obj *Sealed
	err := c.sealJob12(ctx, func(t transport.TPM) (err error) {
		obj, err = sealing.Seal12(t, c.v12.srkAuth, name, sel, secret)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", name, err)
	}
	return obj, nil
}

func (c *Core) unseal12(ctx context.Context, name string, obj *Sealed) ([]byte, error) {
	var secret []byte
	err := c.sealJob12(ctx, func(t transport.TPM) (err error) {
		secret, err = sealing.Unseal12(t, c.v12.srkAuth, name, obj)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unseal %s: %w", name, err)
	}
	return secret, nil
}

func (c *Core) reseal12(ctx context.Context, name string, obj *Sealed, sel Selection) (*Sealed, error) {
	var out *Sealed
	err := c.sealJob12(ctx, func(t transport.TPM) (err error) {
		out, err = sealing.Reseal12(t, c.v12.srkAuth, name, obj, sel)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reseal %s: %w", name, err)
	}
	return out, nil
}

// sealJob12 runs a seal operation as one exclusive queue job, so a TSS's
// commands never land between its OSAP and its Seal or Unseal, and maps
// its errors to tpmcore's sentinels.
func (c *Core) sealJob12(ctx context.Context, fn func(t transport.TPM) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sealTimeout)
		defer cancel()
	}
	err := c.do12(ctx, true, fn)
	switch {
	case err == nil, errors.Is(err, ErrPolicy), errors.Is(err, ErrWrongTPM), errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, sealing.ErrPCRUnavailable), errors.Is(err, sealing.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return classify12("tpm", err)
}
