package tpmcore

import (
	"context"
	"fmt"
)

// MaxEvent is the largest event tpmfs measures (the contract's 1 MiB).
const MaxEvent = 1 << 20

// ReadPCR returns the value of PCR idx in bank. The slice may be shared
// with other readers (a TPM 2.0 answers reads that wait together with
// one PCR_Read) and must not be modified.
func (c *Core) ReadPCR(ctx context.Context, bank Bank, idx int) ([]byte, error) {
	if err := checkIndex(idx); err != nil {
		return nil, fmt.Errorf("read pcr %s:%d: %w", bank.Name, idx, err)
	}
	if err := c.checkBank(bank); err != nil {
		return nil, fmt.Errorf("read pcr %s:%d: %w", bank.Name, idx, err)
	}
	v, err := c.fam.readPCR(ctx, bank, idx)
	if err != nil {
		return nil, fmt.Errorf("read pcr %s:%d: %w", bank.Name, idx, err)
	}
	c.q.stats.pcrRead()
	return v, nil
}

// Extend extends PCR idx of bank with digest (PCR_Extend of that bank only).
func (c *Core) Extend(ctx context.Context, bank Bank, idx int, digest []byte) error {
	op := fmt.Sprintf("extend pcr %s:%d", bank.Name, idx)
	if err := c.checkBank(bank); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := c.checkExtend(idx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if len(digest) != bank.Size {
		return fmt.Errorf("%s: %w: digest of %d bytes, want %d", op, ErrInvalid, len(digest), bank.Size)
	}
	if c.rec != nil {
		if err := c.recordExtend(ctx, bank, idx, digest); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if err := c.fam.extend(ctx, bank, idx, digest); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Measure measures data into PCR idx like tpm2_pcrevent: every active bank
// b is extended with H_b(data).
func (c *Core) Measure(ctx context.Context, idx int, data []byte) error {
	op := fmt.Sprintf("measure into pcr %d", idx)
	if err := c.checkExtend(idx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if len(data) > MaxEvent {
		return fmt.Errorf("%s: %w: %d bytes, at most %d", op, ErrTooLarge, len(data), MaxEvent)
	}
	if c.rec != nil {
		if err := c.recordMeasure(ctx, idx, data); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if err := c.fam.measure(ctx, idx, data); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
