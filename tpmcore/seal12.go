package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/sealing"
	"tpmfs/tpmcore/tpm12"
)

// The TPM 1.2 family's sealing: sealing.Seal12 and its kin under the
// SRK, in jobs that track sessions, so an OSAP or OIAP left by a failed
// job is flushed before the next one (and a TSS's never is).

func (v *family12) sealJob(ctx context.Context, fn func(t transport.TPM) error) error {
	return sealErr(v.do(ctx, true, fn), classify12)
}

// checkSeal asks whether the TPM has an owner, hence an SRK.
func (v *family12) checkSeal(t transport.TPM) error {
	owned, err := tpm12.Owned(t)
	if err != nil {
		return err
	}
	if !owned {
		return ErrNotOwned
	}
	return nil
}

func (v *family12) seal(t transport.TPM, name string, b Binding, secret []byte) (*Sealed, error) {
	return sealing.Seal12(t, v.srkAuth, name, b, secret)
}

// unseal ignores sigs: a TPM 1.2 object has no authkey (Seal12 refuses
// one).
func (v *family12) unseal(t transport.TPM, name string, obj *Sealed, _ *Signatures) ([]byte, error) {
	return sealing.Unseal12(t, v.srkAuth, name, obj)
}

func (v *family12) reseal(t transport.TPM, name string, obj *Sealed, _ *Signatures, b Binding) (*Sealed, error) {
	return sealing.Reseal12(t, v.srkAuth, name, obj, b)
}

func (v *family12) inspect(t transport.TPM, b Binding, obj *Sealed, _ *Signatures) (*SealReport, error) {
	return sealing.Inspect12(t, v.srkAuth, b, obj)
}

// signedPolicies: TPM 1.2 has nothing like PolicyAuthorize.
func (v *family12) signedPolicies() error {
	return fmt.Errorf("%w: signed PCR policies (authkey, pcrsig) need a TPM 2.0", ErrUnsupported)
}
