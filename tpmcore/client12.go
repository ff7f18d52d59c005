package tpmcore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
)

// The raw channel on a TPM 1.2: a passthrough with one opener at a time,
// as the kernel's /dev/tpm0, so that a TSS (TrouSerS' tcsd) can own the
// TPM's handles and sessions. tpmcore has no resource manager for TPM
// 1.2: it leaves the TSS's handles alone, and its own operations start
// and end their sessions within one queue job, between two of the TSS's
// commands.

// releaseGrace is how long an open waits for the channel to be released.
// FUSE delivers a file's release after close(2) has returned, so a
// program that closes and reopens at once would otherwise find the
// channel still taken, where the kernel's /dev/tpm0 releases in close.
const releaseGrace = 500 * time.Millisecond

// passthrough is the one open raw channel of a TPM 1.2.
type passthrough struct{ v *family12 }

// openRaw opens the passthrough for anyone: a TPM 1.2 has no command
// policy or quota per uid here (rm_policy= is TPM 2.0's).
func (v *family12) openRaw(uid uint32) (rawChannel, error) {
	deadline := time.Now().Add(releaseGrace)
	for {
		v.rawMu.Lock()
		if !v.rawOpen {
			v.rawOpen, v.rawUID = true, uid
			v.rawMu.Unlock()
			return passthrough{v}, nil
		}
		v.rawMu.Unlock()
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("open raw channel: %w: a TPM 1.2 has one raw channel, like /dev/tpm0, and it is in use", ErrBusy)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// transmit sends one command as it is and returns the TPM's answer.
func (p passthrough) transmit(ctx context.Context, cmd []byte) (rsp []byte, err error) {
	err = p.v.do(ctx, false, func(t transport.TPM) (err error) {
		rsp, err = t.Send(cmd)
		return err
	})
	return rsp, err
}

// close frees the channel for the next opener. What the TSS left in the
// TPM stays, as with /dev/tpm0: it is the TSS's to manage.
func (p passthrough) close() error {
	p.v.rawMu.Lock()
	p.v.rawOpen = false
	p.v.rawMu.Unlock()
	return nil
}
