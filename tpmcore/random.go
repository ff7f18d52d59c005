package tpmcore

import (
	"context"
	"fmt"
)

// Random fills p with bytes from the TPM's RNG.
func (c *Core) Random(ctx context.Context, p []byte) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if err := c.fam.random(ctx, p); err != nil {
		return fmt.Errorf("get random: %w", err)
	}
	return nil
}
