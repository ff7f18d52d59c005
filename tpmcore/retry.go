package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/tpmwire"
)

// Retry bounds: the TPM asks for a retry when busy (RETRY), when it
// yielded a long command (YIELDED) or while self-testing (TESTING). The
// delays double like the kernel's, and the whole loop is bounded so a TPM
// that asks forever still gives the caller an answer.
const (
	retryFirstDelay = 5 * time.Millisecond
	retryMaxDelay   = 500 * time.Millisecond
)

// retryBudget is a variable only so that tests need not wait for it.
var retryBudget = 5 * time.Second

// errRetryExhausted: the TPM still asked for a retry when the budget ran
// out; the queue counts it as the TPM failing.
var errRetryExhausted = errors.New("TPM still asks to retry")

// retry is the one place where TPM warnings are retried. It returns the
// first response that is not a warning, an error from send, the caller's
// context error, or errRetryExhausted (with the TPM's code) after
// retryBudget.
func retry(ctx context.Context, send func() ([]byte, error)) ([]byte, error) {
	delay := retryFirstDelay
	start := time.Now()
	for {
		rsp, err := send()
		if err != nil {
			return nil, err
		}
		rc := responseCode(rsp)
		if !retryable(rc) && !retryable12(rsp) {
			return rsp, nil
		}
		if time.Since(start)+delay > retryBudget {
			return nil, fmt.Errorf("%w after %v: %w", errRetryExhausted, time.Since(start).Round(time.Millisecond), rc)
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%w: retrying %v: %w", ErrUnavailable, rc, ctx.Err())
		}
		delay = min(delay*2, retryMaxDelay)
	}
}

// responseCode is rsp's response code, 0 if rsp has no header.
func responseCode(rsp []byte) tpm2.TPMRC {
	rc, _ := tpmwire.Code(rsp)
	return tpm2.TPMRC(rc)
}

func retryable(rc tpm2.TPMRC) bool {
	return rc == tpm2.TPMRCRetry || rc == tpm2.TPMRCYielded || rc == tpm2.TPMRCTesting
}
