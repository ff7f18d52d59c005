package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
)

// randomPerJob bounds how long one Random holds the queue, so PCR readers
// are not starved behind a large read.
const randomPerJob = 4096

// Random fills p with bytes from the TPM's RNG, in the largest chunks the
// TPM gives per GetRandom.
func (c *Core) Random(ctx context.Context, p []byte) error {
	if c.v12 != nil {
		return c.random12(ctx, p)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	for len(p) > 0 {
		n := min(len(p), randomPerJob)
		err := c.q.do(ctx, func(t transport.TPM) error { return fillRandom(t, p[:n], c.maxRandom) })
		if err != nil {
			return fmt.Errorf("get random: %w", err)
		}
		p = p[n:]
	}
	return nil
}

// fillRandom fills p with GetRandom commands of at most chunk bytes
// (go-tpm's bytes, cached; the answer is copied straight into p).
func fillRandom(t transport.TPM, p []byte, chunk int) error {
	for len(p) > 0 {
		rsp, err := t.Send(getRandomCommand(uint16(min(len(p), chunk, 0xffff))))
		if err != nil {
			return classify("GetRandom", err)
		}
		got, err := parseGetRandom(rsp)
		if err != nil {
			return classify("GetRandom", err)
		}
		if len(got) == 0 {
			return fmt.Errorf("%w: GetRandom returned no bytes", ErrUnavailable)
		}
		p = p[copy(p, got):]
	}
	return nil
}
