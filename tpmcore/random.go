package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// randomPerJob bounds how long one Random holds the queue, so PCR readers
// are not starved behind a large read.
const randomPerJob = 4096

// Random fills p with bytes from the TPM's RNG, in the largest chunks the
// TPM gives per GetRandom.
func (c *Core) Random(ctx context.Context, p []byte) error {
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

func fillRandom(t transport.TPM, p []byte, chunk int) error {
	for len(p) > 0 {
		rsp, err := tpm2.GetRandom{BytesRequested: uint16(min(len(p), chunk))}.Execute(t)
		if err != nil {
			return classify("GetRandom", err)
		}
		if len(rsp.RandomBytes.Buffer) == 0 {
			return fmt.Errorf("%w: GetRandom returned no bytes", ErrUnavailable)
		}
		p = p[copy(p, rsp.RandomBytes.Buffer):]
	}
	return nil
}
