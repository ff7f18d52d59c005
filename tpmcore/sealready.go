package tpmcore

import (
	"context"
	"fmt"
	"time"
)

// sealReadyFor is how long a successful SealReady is taken as still true:
// writers open in bursts (a shell loop). On a TPM 2.0 the check sends
// nothing once the storage root key is kept, but on a TPM 1.2 it asks the
// TPM.
const sealReadyFor = 10 * time.Second

// SealReady reports whether a seal can succeed now, so that a writer
// learns it when it opens the file rather than at close: a storage root
// key is kept, or can be made with the configured owner secret (TPM 2.0;
// the key it makes is kept for the seal), or the TPM has an owner (TPM
// 1.2: ErrNotOwned otherwise).
func (c *Core) SealReady(ctx context.Context) error {
	if last := c.sealReady.Load(); last != 0 && time.Since(time.Unix(0, last)) < sealReadyFor {
		return nil
	}
	ctx, cancel := sealContext(ctx)
	defer cancel()
	if err := c.fam.sealJob(ctx, c.fam.checkSeal); err != nil {
		return fmt.Errorf("check sealing: %w", err)
	}
	c.sealReady.Store(time.Now().UnixNano())
	return nil
}
