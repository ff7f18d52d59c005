package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/attest"
	"tpmfs/tpmcore/nv"
)

// Attestation on a TPM 2.0 (package attest): its EK certificates and
// keys, attestation keys, quotes and credential activation. A TPM 1.2
// answers every call with ErrUnsupported.

// AK is an attestation key as kept on disk (see attest.Key).
type AK = attest.Key

// Quote is a signed quote with the PCR values it covers.
type Quote = attest.Quote

// AK key types.
const (
	AKECC = attest.ECC
	AKRSA = attest.RSA
)

// EKCert is an EK certificate the TPM holds in NV, found at start.
type EKCert struct {
	Index uint32 // NV index, 0x01c00002 ...
	Name  string // the key it certifies: rsa2048, ecc-nistp384, ...
	Size  int    // bytes
}

// attestTimeout bounds an attestation operation: it may create keys (an
// RSA EK or AK takes seconds on a real chip, up to a minute for 4096
// bits), each allowed LongCommandTimeout.
const attestTimeout = LongCommandTimeout + sealTimeout

// attestContext bounds an attestation operation unless the caller has a
// deadline, and lets its key generations take long.
func attestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		ctx, cancel := context.WithCancel(ctx)
		return allowLong(ctx), cancel
	}
	ctx, cancel := context.WithTimeout(ctx, attestTimeout)
	return allowLong(ctx), cancel
}

// attestCall runs op as one attestation job.
func attestCall[T any](c *Core, ctx context.Context, what string, op func(t transport.TPM) (T, error)) (T, error) {
	ctx, cancel := attestContext(ctx)
	defer cancel()
	return jobCall(ctx, c.fam.attestJob, what, op)
}

// Attestation reports whether the TPM has what ek/, ak/ and nv/ serve:
// nil on a TPM 2.0, ErrUnsupported (not on TPM 1.2) otherwise.
func (c *Core) Attestation() error {
	return c.fam.attestJob(context.Background(), func(transport.TPM) error { return nil })
}

// EKCerts lists the EK certificates found in NV at start.
func (c *Core) EKCerts() []EKCert { return append([]EKCert(nil), c.ekCerts...) }

// ekProfile is the profile of an EK certificate found at start.
func (c *Core) ekProfile(index uint32) (attest.EKProfile, error) {
	for _, e := range c.ekCerts {
		if e.Index == index {
			p, _ := attest.EKProfileFor(index)
			return p, nil
		}
	}
	return attest.EKProfile{}, fmt.Errorf("EK certificate 0x%08x: %w", index, ErrNotFound)
}

// EKCertificate returns the certificate at index, exactly as in NV.
func (c *Core) EKCertificate(ctx context.Context, index uint32) ([]byte, error) {
	if _, err := c.ekProfile(index); err != nil {
		return nil, err
	}
	return attestCall(c, ctx, fmt.Sprintf("read EK certificate 0x%08x", index), func(t transport.TPM) ([]byte, error) {
		p, err := nv.ReadPublic(t, index)
		if err != nil {
			return nil, err
		}
		return nv.Read(t, p, p.PublicReadAuth(), c.opts.OwnerAuth, c.nvBuffer)
	})
}

// EKPublic returns, in PEM, the public key of the EK the certificate at
// index certifies, re-created from the profile's template for it.
func (c *Core) EKPublic(ctx context.Context, index uint32) ([]byte, error) {
	p, err := c.ekProfile(index)
	if err != nil {
		return nil, err
	}
	// Cached: re-creating an EK from its template takes seconds on a
	// real chip, and the key does not change while the endorsement seed
	// stays.
	if b, ok := c.ekPEMs.Load(index); ok {
		return b.([]byte), nil
	}
	b, err := attestCall(c, ctx, "EK "+p.Name, func(t transport.TPM) ([]byte, error) {
		return attest.EKPublicPEM(t, c.opts.OwnerAuth, p)
	})
	if err != nil {
		return nil, err
	}
	c.ekPEMs.Store(index, b)
	return b, nil
}

// CreateAK creates an attestation key of type typ (AKECC, AKRSA) under
// the storage root key.
func (c *Core) CreateAK(ctx context.Context, typ string) (*AK, error) {
	if !attest.ValidType(typ) {
		return nil, fmt.Errorf("create AK: %w: type %q (want %s or %s)", ErrInvalid, typ, AKECC, AKRSA)
	}
	return attestCall(c, ctx, "create AK", func(t transport.TPM) (*AK, error) {
		return attest.CreateAK(t, c.opts.OwnerAuth, typ)
	})
}

// Quote quotes the PCRs of sel, whose banks must be active, with nonce
// under key k; the PCR values come with it, read in the same job.
func (c *Core) Quote(ctx context.Context, k *AK, sel Selection, nonce []byte) (*Quote, error) {
	for _, b := range sel.Banks() {
		if _, ok := c.Bank(b.Name); !ok {
			return nil, fmt.Errorf("quote: %w: bank %s is not active on this TPM", ErrInvalid, b.Name)
		}
	}
	if len(nonce) > attest.MaxNonce {
		return nil, fmt.Errorf("quote: %w: nonce of %d bytes, at most %d", ErrInvalid, len(nonce), attest.MaxNonce)
	}
	return attestCall(c, ctx, "quote "+sel.String(), func(t transport.TPM) (*Quote, error) {
		return attest.QuotePCRs(t, c.opts.OwnerAuth, k, sel, nonce)
	})
}

// ActivateCredential releases the secret of a credential file
// (tpm2_makecredential's format) made for k's name and one of this TPM's
// EKs: those with certificates first, then the low range's default of
// the credential's key type. A credential for another key or TPM is
// ErrAuth.
func (c *Core) ActivateCredential(ctx context.Context, k *AK, file []byte) ([]byte, error) {
	cred, complete, err := attest.ParseCredential(file)
	if err == nil && !complete {
		err = fmt.Errorf("%w: truncated", attest.ErrCredential)
	}
	if err != nil {
		return nil, fmt.Errorf("activate credential: %w: %w", ErrInvalid, err)
	}
	var have []attest.EKProfile
	for _, e := range c.ekCerts {
		p, _ := attest.EKProfileFor(e.Index)
		have = append(have, p)
	}
	return attestCall(c, ctx, "activate credential", func(t transport.TPM) ([]byte, error) {
		return attest.Activate(t, c.opts.OwnerAuth, k, cred, attest.Candidates(cred, have))
	})
}
