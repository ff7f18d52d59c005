package tpmcore

import (
	"context"

	"github.com/google/go-tpm/tpm2/transport"
)

// The TPM 2.0 family's sealing: package sealing's Keeper (srk20.go),
// which keeps the storage root key and a salted session, in jobs that no
// other command interleaves, so nothing lands between a seal's commands.

// sealJob runs fn as one queue job on the keeper's transport: the
// resource manager's internal space.
func (f *family20) sealJob(ctx context.Context, fn func(t transport.TPM) error) error {
	return sealErr(f.c.q.do(ctx, func(t transport.TPM) error {
		in, err := f.internal(t)
		if err != nil {
			return err
		}
		return fn(in)
	}), classify)
}

// checkSeal makes sure a storage root key is kept, or can be made with
// the configured owner secret; with one kept it sends nothing.
func (f *family20) checkSeal(t transport.TPM) error { return f.keeper.Ready(t) }

func (f *family20) seal(t transport.TPM, name string, b Binding, secret []byte) (*Sealed, error) {
	return f.keeper.Seal(t, name, b, secret)
}

func (f *family20) unseal(t transport.TPM, name string, obj *Sealed, sigs *Signatures) ([]byte, error) {
	return f.keeper.Unseal(t, name, obj, sigs)
}

func (f *family20) reseal(t transport.TPM, name string, obj *Sealed, sigs *Signatures, b Binding) (*Sealed, error) {
	return f.keeper.Reseal(t, name, obj, sigs, b)
}

func (f *family20) inspect(t transport.TPM, b Binding, obj *Sealed, sigs *Signatures) (*SealReport, error) {
	return f.keeper.Inspect(t, b, obj, sigs)
}

// signedPolicies: a TPM 2.0 has PolicyAuthorize.
func (f *family20) signedPolicies() error { return nil }
