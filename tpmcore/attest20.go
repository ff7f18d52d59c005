package tpmcore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/attest"
	"tpmfs/tpmcore/nv"
	"tpmfs/tpmcore/sealing"
)

// The TPM 2.0 family's attestation and NV operations: packages attest
// and nv, each call one exclusive job (a quote's PCR reads and the quote,
// a write's check of the index and the write) in the resource manager's
// internal space, beside the Keeper's storage root key, under which the
// attestation keys load (sealing.Keep), and taking session handles back
// from raw clients when the TPM has none left.

func (f *family20) attestJob(ctx context.Context, fn func(t transport.TPM) error) error {
	return attestErr(f.c.q.do(ctx, func(t transport.TPM) error {
		in, err := f.internal(t)
		if err != nil {
			return err
		}
		return fn(sealing.Keep(in, f.keeper))
	}))
}

// minNVBuffer is the NV buffer of a TPM that does not report one: the
// PC Client profile's minimum.
const minNVBuffer = 512

// findEKCerts lists the EK certificates in NV that package attest knows.
func findEKCerts(t transport.TPM) ([]EKCert, error) {
	indices, err := nv.List(t, attest.EKCertFirst, attest.EKCertLast)
	if err != nil {
		return nil, fmt.Errorf("find EK certificates: %w", err)
	}
	var out []EKCert
	for _, p := range attest.EKProfiles {
		for _, idx := range indices {
			if idx != p.Cert {
				continue
			}
			pub, err := nv.ReadPublic(t, idx)
			if err != nil {
				return nil, fmt.Errorf("find EK certificates: %w", err)
			}
			out = append(out, EKCert{Index: idx, Name: p.Name, Size: pub.Size})
		}
	}
	return out, nil
}

// attestErr maps the errors of attest and nv jobs to tpmcore's
// sentinels; a TPM response code stays reachable.
func attestErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		return err
	case errors.Is(err, nv.ErrUnwritten), errors.Is(err, nv.ErrChanged):
		return err // ErrNoData, ErrStale
	case errors.Is(err, nv.ErrNoAuth), errors.Is(err, tpm2.TPMRCNVLocked), errors.Is(err, tpm2.TPMRCNVAuthorization),
		errors.Is(err, tpm2.TPMRCAttributes), errors.Is(err, tpm2.TPMRCHierarchy):
		return fmt.Errorf("%w: %w", ErrNotAllowed, err)
	case errors.Is(err, attest.ErrRefused), errors.Is(err, tpm2.TPMRCAuthFail), errors.Is(err, tpm2.TPMRCBadAuth):
		return fmt.Errorf("%w: %w", ErrAuth, err)
	case errors.Is(err, nv.ErrRange), errors.Is(err, tpm2.TPMRCNVRange), errors.Is(err, tpm2.TPMRCNVSize):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, tpm2.TPMRCNVDefined):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, tpm2.TPMRCNVSpace):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	case errors.Is(err, tpm2.TPMRCHandle):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, nv.ErrType), errors.Is(err, nv.ErrNotIndex), errors.Is(err, attest.ErrNoPCRs),
		errors.Is(err, attest.ErrCredential):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return sealErr(err, classify)
}
