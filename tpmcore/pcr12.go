package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/tpm12"
)

// The TPM 1.2 versions of ReadPCR, Extend, Measure and Random. A TPM 1.2
// reads one PCR per command, so reads are not batched; each call is one
// queue job.

func (c *Core) readPCR12(ctx context.Context, bank Bank, idx int) ([]byte, error) {
	op := fmt.Sprintf("read pcr %s:%d", bank.Name, idx)
	if err := checkBank12(bank); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var v [tpm12.DigestSize]byte
	err := c.do12(ctx, false, func(t transport.TPM) (err error) {
		v, err = tpm12.ReadPCR(t, idx)
		return err
	})
	if err != nil {
		return nil, classify12(op, err)
	}
	return v[:], nil
}

func (c *Core) extend12(ctx context.Context, bank Bank, idx int, digest []byte) error {
	op := fmt.Sprintf("extend pcr %s:%d", bank.Name, idx)
	if err := checkBank12(bank); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := c.checkExtend(idx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var d [tpm12.DigestSize]byte
	if len(digest) != len(d) {
		return fmt.Errorf("%s: %w: digest of %d bytes, want %d", op, ErrInvalid, len(digest), len(d))
	}
	copy(d[:], digest)
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return classify12(op, c.do12(ctx, false, func(t transport.TPM) error {
		_, err := tpm12.Extend(t, idx, d)
		return err
	}))
}

// measure12 extends PCR idx with SHA-1(data): the one bank's share of
// what tpm2_pcrevent does.
func (c *Core) measure12(ctx context.Context, idx int, data []byte) error {
	op := fmt.Sprintf("measure into pcr %d", idx)
	if err := c.checkExtend(idx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if len(data) > MaxEvent {
		return fmt.Errorf("%s: %w: %d bytes, at most %d", op, ErrTooLarge, len(data), MaxEvent)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return classify12(op, c.do12(ctx, false, func(t transport.TPM) error {
		_, err := tpm12.Measure(t, idx, data)
		return err
	}))
}

// randomPerJob12 bounds one job's share of a large random read: eight
// TPM_GetRandom commands, so a TSS's commands wait little behind it.
const randomPerJob12 = 1024

func (c *Core) random12(ctx context.Context, p []byte) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	for len(p) > 0 {
		n := min(len(p), randomPerJob12)
		err := c.do12(ctx, false, func(t transport.TPM) error { return tpm12.Random(t, p[:n]) })
		if err != nil {
			return classify12("get random", err)
		}
		p = p[n:]
	}
	return nil
}

// checkBank12 refuses every bank but the one a TPM 1.2 has.
func checkBank12(b Bank) error {
	if b.Alg != tpm2.TPMAlgSHA1 {
		return fmt.Errorf("%w: a TPM 1.2 has no %s bank, only sha1", ErrInvalid, b.Name)
	}
	return nil
}
