package tpmcore

import (
	"context"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/sealing"
)

// The TPM 2.0 family's sealing: package sealing under the owner
// hierarchy's SRK, in jobs that no other command interleaves, so nothing
// lands between a seal's create, load and flush.

func (f *family20) sealJob(ctx context.Context, fn func(t transport.TPM) error) error {
	return sealErr(f.c.q.do(ctx, f.reclaiming(fn)), classify)
}

// checkSeal makes the storage root key with the configured owner secret.
func (f *family20) checkSeal(t transport.TPM) error {
	return sealing.CheckSRK(t, f.c.opts.OwnerAuth)
}

func (f *family20) seal(t transport.TPM, name string, b Binding, secret []byte) (*Sealed, error) {
	return sealing.Seal(t, f.c.opts.OwnerAuth, name, b, secret)
}

func (f *family20) unseal(t transport.TPM, name string, obj *Sealed, sigs *Signatures) ([]byte, error) {
	return sealing.Unseal(t, f.c.opts.OwnerAuth, name, obj, sigs)
}

func (f *family20) reseal(t transport.TPM, name string, obj *Sealed, sigs *Signatures, b Binding) (*Sealed, error) {
	return sealing.Reseal(t, f.c.opts.OwnerAuth, name, obj, sigs, b)
}

func (f *family20) inspect(t transport.TPM, b Binding, obj *Sealed, sigs *Signatures) (*SealReport, error) {
	return sealing.Inspect(t, f.c.opts.OwnerAuth, b, obj, sigs)
}

// signedPolicies: a TPM 2.0 has PolicyAuthorize.
func (f *family20) signedPolicies() error { return nil }
