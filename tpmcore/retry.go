package tpmcore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2"
)

// Retry bounds: the TPM asks for a retry when busy (RETRY), when it
// yielded a long command (YIELDED) or while self-testing (TESTING). The
// delays double like the kernel's, and the whole loop is bounded so a TPM
// that asks forever still gives the caller an answer.
const (
	retryFirstDelay = 5 * time.Millisecond
	retryMaxDelay   = 500 * time.Millisecond
	retryBudget     = 5 * time.Second
)

// retry is the one place where TPM warnings are retried.
func retry(ctx context.Context, send func() ([]byte, error)) ([]byte, error) {
	delay := retryFirstDelay
	deadline := time.Now().Add(retryBudget)
	for {
		rsp, err := send()
		if err != nil {
			return nil, err
		}
		rc := responseCode(rsp)
		if !retryable(rc) {
			return rsp, nil
		}
		if time.Now().Add(delay).After(deadline) {
			return rsp, nil // the caller sees the TPM's own warning
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: retrying %v: %w", ErrUnavailable, rc, ctx.Err())
		}
		delay = min(delay*2, retryMaxDelay)
	}
}

func responseCode(rsp []byte) tpm2.TPMRC {
	if len(rsp) < 10 {
		return 0
	}
	return tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10]))
}

func retryable(rc tpm2.TPMRC) bool {
	return rc == tpm2.TPMRCRetry || rc == tpm2.TPMRCYielded || rc == tpm2.TPMRCTesting
}
