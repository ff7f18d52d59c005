package tpmcore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/sealing"
	"tpmfs/tpmcore/tpm12"
)

// sealReadyFor is how long a successful SealReady is taken as still true:
// writers open in bursts (a shell loop), and on a real chip the check
// costs a CreatePrimary.
const sealReadyFor = 10 * time.Second

// SealReady reports whether a seal can succeed now, so that a writer
// learns it when it opens the file rather than at close: the storage root
// key can be made with the configured owner secret (TPM 2.0), or the TPM
// has an owner (TPM 1.2: ErrNotOwned otherwise).
func (c *Core) SealReady(ctx context.Context) error {
	if last := c.sealReady.Load(); last != 0 && time.Since(time.Unix(0, last)) < sealReadyFor {
		return nil
	}
	err := c.sealJob(ctx, func(t transport.TPM) error {
		if c.v12 == nil {
			return sealing.CheckSRK(t, c.opts.OwnerAuth)
		}
		owned, err := tpm12.Owned(t)
		if err != nil {
			return err
		}
		if !owned {
			return ErrNotOwned
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check sealing: %w", err)
	}
	c.sealReady.Store(time.Now().UnixNano())
	return nil
}
