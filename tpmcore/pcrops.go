package tpmcore

import (
	"context"
	"errors"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/tpm12"
)

// pcrOps are the PCR commands a recorded extend runs inside its one job
// (record.go), on the job's transport.
type pcrOps interface {
	// boot reads which boot of the TPM this is.
	boot() (Boot, error)
	// read returns the value of each PCR of keys, in order.
	read(keys []pcrKey) ([][]byte, error)
	// extend extends PCR idx of each digest's bank, in one command.
	extend(idx int, digests []Digest) error
}

func (f *family20) pcrJob(ctx context.Context, fn func(ops pcrOps) error) error {
	return f.c.q.do(ctx, func(t transport.TPM) error { return fn(ops20{t}) })
}

// ops20 runs a TPM 2.0's PCR commands on a job's transport.
type ops20 struct{ t transport.TPM }

func (o ops20) boot() (Boot, error) {
	rsp, err := tpm2.ReadClock{}.Execute(o.t)
	if err != nil {
		return Boot{}, classify("ReadClock", err)
	}
	ci := rsp.CurrentTime.ClockInfo
	return Boot{Family: "2.0", ResetCount: ci.ResetCount, RestartCount: ci.RestartCount}, nil
}

func (o ops20) read(keys []pcrKey) ([][]byte, error) {
	vals, err := readBatch(o.t, keys, nil)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if v == nil {
			return nil, errors.Join(ErrUnsupported, errors.New("PCR_Read returned no value for a PCR"))
		}
	}
	return vals, nil
}

func (o ops20) extend(idx int, digests []Digest) error {
	ds := make([]tpm2.TPMTHA, len(digests))
	for i, d := range digests {
		ds[i] = tpm2.TPMTHA{HashAlg: d.Bank.Alg, Digest: d.Value}
	}
	_, err := tpm2.PCRExtend{
		PCRHandle: pcrHandle(idx),
		Digests:   tpm2.TPMLDigestValues{Digests: ds},
	}.Execute(o.t)
	return classify("PCR_Extend", err)
}

func (v *family12) pcrJob(ctx context.Context, fn func(ops pcrOps) error) error {
	return v.do(ctx, false, func(t transport.TPM) error { return fn(ops12{t}) })
}

// ops12 runs a TPM 1.2's PCR commands (one bank, sha1) on a job's
// transport.
type ops12 struct{ t transport.TPM }

func (o ops12) boot() (Boot, error) {
	n, err := tpm12.TickNonce(o.t)
	if err != nil {
		return Boot{}, classify12("TPM_GetTicks", err)
	}
	return Boot{Family: tpm12.Family, TickNonce: n}, nil
}

func (o ops12) read(keys []pcrKey) ([][]byte, error) {
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		d, err := tpm12.ReadPCR(o.t, k.idx)
		if err != nil {
			return nil, classify12("TPM_PCRRead", err)
		}
		vals[i] = d[:]
	}
	return vals, nil
}

func (o ops12) extend(idx int, digests []Digest) error {
	for _, d := range digests {
		if _, err := tpm12.Extend(o.t, idx, [tpm12.DigestSize]byte(d.Value)); err != nil {
			return classify12("TPM_Extend", err)
		}
	}
	return nil
}
