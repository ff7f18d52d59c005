package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
)

// errNot12 is the TPM 1.2 family's answer to the attestation and NV
// operations: its EK, identity keys and NV are of another kind, and tpmfs
// shows none of them (ek/, ak/ and nv/ are absent).
var errNot12 = fmt.Errorf("%w: not on TPM 1.2", ErrUnsupported)

func (v *family12) attestJob(ctx context.Context, fn func(t transport.TPM) error) error {
	return errNot12
}
