package tpmcore

import (
	"context"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/tpmwire"
)

// LongCommandTimeout bounds a raw client's key generation: a real chip
// may take tens of seconds for an RSA key (the kernel allows minutes),
// where every other command gets Options.CommandTimeout.
const LongCommandTimeout = 2 * time.Minute

// longCommandKey marks a context whose commands may take long.
type longCommandKey struct{}

// allowLong lets the key generations sent under ctx take LongCommandTimeout.
func allowLong(ctx context.Context) context.Context {
	return context.WithValue(ctx, longCommandKey{}, true)
}

// commandTimeout is the time one command may take on the wire.
func commandTimeout(ctx context.Context, cmd []byte, normal time.Duration) time.Duration {
	if long, _ := ctx.Value(longCommandKey{}).(bool); long && generatesKey(cmd) {
		return max(normal, LongCommandTimeout)
	}
	return normal
}

// generatesKey reports commands that create a key pair, TPM 2.0 or 1.2.
func generatesKey(cmd []byte) bool {
	h, ok := tpmwire.ParseHeader(cmd)
	if !ok {
		return false
	}
	code := h.Code
	switch tpm2.TPMCC(code) {
	case tpm2.TPMCCCreatePrimary, tpm2.TPMCCCreate, tpm2.TPMCCCreateLoaded:
		return true
	}
	switch code {
	case 0x0D, // TPM_ORD_TakeOwnership (creates the SRK)
		0x1F, // TPM_ORD_CreateWrapKey
		0x78, // TPM_ORD_CreateEndorsementKeyPair
		0x79, // TPM_ORD_MakeIdentity
		0x7F: // TPM_ORD_CreateRevocableEK
		return h.Tag>>8 == 0x00 // TPM 1.2 tags start with 0x00
	}
	return false
}

// rawContext bounds a raw client's command: key generation may take
// LongCommandTimeout, anything else the usual operation timeout.
func (c *Core) rawContext(parent context.Context, cmd []byte) (context.Context, context.CancelFunc) {
	if generatesKey(cmd) {
		ctx, cancel := context.WithTimeout(parent, LongCommandTimeout+c.opts.OpTimeout)
		return allowLong(ctx), cancel
	}
	return c.ctx(parent)
}
