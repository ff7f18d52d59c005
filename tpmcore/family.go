package tpmcore

import (
	"context"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/tpm12"
)

// family is what differs between a TPM 2.0 (family20) and a TPM 1.2
// (family12). Core checks every argument once (pcr.go, random.go,
// seal.go) and hands the operation to the family detectFamily chose at
// start; nothing else asks which family the TPM is. An operation added
// here does not compile until both families answer it, if only with
// ErrUnsupported.
type family interface {
	// start installs the family's queue hooks and reads what the layers
	// above need to know. It runs in New's job.
	start(t transport.TPM) (identity, error)

	// readPCR reads PCR idx of an active bank; idx is in range.
	readPCR(ctx context.Context, bank Bank, idx int) ([]byte, error)
	// extend extends PCR idx of an active bank, which locality 0 may
	// extend, with a digest of the bank's size.
	extend(ctx context.Context, bank Bank, idx int, digest []byte) error
	// measure extends every active bank b of PCR idx, which locality 0
	// may extend, with H_b(data); data is at most MaxEvent bytes.
	measure(ctx context.Context, idx int, data []byte) error
	// random fills p from the TPM's RNG.
	random(ctx context.Context, p []byte) error
	// pcrJob runs fn as one exclusive queue job with the family's PCR
	// primitives: a recorded extend (record.go).
	pcrJob(ctx context.Context, fn func(ops pcrOps) error) error

	// sealJob runs fn, which may call seal, unseal, reseal and inspect,
	// as one exclusive queue job and maps its errors to tpmcore's
	// sentinels (sealErr).
	sealJob(ctx context.Context, fn func(t transport.TPM) error) error
	// seal, unseal, reseal and inspect are package sealing's operations
	// for the family, with its storage root key's secret; t is sealJob's.
	seal(t transport.TPM, name string, b Binding, secret []byte) (*Sealed, error)
	unseal(t transport.TPM, name string, obj *Sealed, sigs *Signatures) ([]byte, error)
	reseal(t transport.TPM, name string, obj *Sealed, sigs *Signatures, b Binding) (*Sealed, error)
	inspect(t transport.TPM, b Binding, obj *Sealed, sigs *Signatures) (*SealReport, error)
	// signedPolicies tells whether objects may be sealed with an authkey
	// (ErrUnsupported on a TPM 1.2).
	signedPolicies() error

	// checkSeal tells whether a seal can succeed now (SealReady); t is
	// sealJob's.
	checkSeal(t transport.TPM) error

	// openRaw opens a raw command channel for a Client of uid.
	openRaw(uid uint32) (rawChannel, error)

	// For status reports: the command code of a PCR read, a command's
	// name, and what raw clients hold, by uid.
	pcrReadCode() uint32
	commandName(code uint32) string
	rawUsage() []RawUsage

	// attestJob runs fn, an operation of packages attest or nv on a
	// TPM 2.0 (EK, attestation keys, quotes, NV indices), as one
	// exclusive queue job and maps its errors (attestErr). A TPM 1.2
	// answers ErrUnsupported: not on TPM 1.2.
	attestJob(ctx context.Context, fn func(t transport.TPM) error) error
}

// rawChannel is what a Client sends its commands through: a resource
// manager space on a TPM 2.0, a passthrough on a TPM 1.2.
type rawChannel interface {
	// transmit sends one whole command; malformed commands get a TPM
	// error response, the error is for a TPM that could not answer.
	transmit(ctx context.Context, cmd []byte) ([]byte, error)
	// close releases the channel and what it holds in the TPM.
	close() error
}

var (
	_ family = (*family20)(nil)
	_ family = (*family12)(nil)
)

// identity is what a family's start reads of the TPM.
type identity struct {
	info  Info
	banks []Bank // active, in algorithm order; never empty
	// extendL0 marks the PCRs the TPM lets locality 0 extend.
	extendL0 [maxPCRs]bool
	// ekCerts are the EK certificates in NV (TPM 2.0), nvBuffer the
	// most bytes one NV_Read or NV_Write moves (TPM_PT_NV_BUFFER_MAX).
	ekCerts  []EKCert
	nvBuffer int
}

// detectFamily sends a TPM 2.0 command and picks the family by the
// answer: a TPM 1.2 answers in its own response tags (TPM_TAG_RSP_COMMAND
// and friends). It is the one place that tells the families apart.
func (c *Core) detectFamily(t transport.TPM) (family, error) {
	rec := &recorder{t: t}
	_, err := tpm2.GetRandom{BytesRequested: 8}.Execute(rec)
	if tpm12.IsTPM12Response(rec.last) {
		return newFamily12(c), nil
	}
	if _, isRC := RC(err); err != nil && !isRC {
		return nil, err
	}
	return newFamily20(c), nil
}

// recorder keeps the last raw response, to look at what go-tpm rejects.
type recorder struct {
	t    transport.TPM
	last []byte
}

func (r *recorder) Send(cmd []byte) ([]byte, error) {
	rsp, err := r.t.Send(cmd)
	r.last = rsp
	return rsp, err
}
