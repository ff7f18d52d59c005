package tpmcore

import (
	"context"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/tpm12"
)

// The TPM 1.2 family's operations. A TPM 1.2 reads one PCR per command,
// so reads are not batched; each call is one queue job.

func (v *family12) readPCR(ctx context.Context, _ Bank, idx int) ([]byte, error) {
	ctx, cancel := v.c.ctx(ctx)
	defer cancel()
	var d [tpm12.DigestSize]byte
	err := v.do(ctx, false, func(t transport.TPM) (err error) {
		d, err = tpm12.ReadPCR(t, idx)
		return err
	})
	if err != nil {
		return nil, classify12("TPM_PCRRead", err)
	}
	return d[:], nil
}

// extend: the bank is sha1, the only one, and digest its size.
func (v *family12) extend(ctx context.Context, _ Bank, idx int, digest []byte) error {
	d := [tpm12.DigestSize]byte(digest)
	return classify12("TPM_Extend", v.do(ctx, false, func(t transport.TPM) error {
		_, err := tpm12.Extend(t, idx, d)
		return err
	}))
}

// measure extends PCR idx with SHA-1(data): the one bank's share of
// what tpm2_pcrevent does.
func (v *family12) measure(ctx context.Context, idx int, data []byte) error {
	return classify12("TPM_Extend", v.do(ctx, false, func(t transport.TPM) error {
		_, err := tpm12.Measure(t, idx, data)
		return err
	}))
}

// randomPerJob12 bounds one job's share of a large random read: eight
// TPM_GetRandom commands, so a TSS's commands wait little behind it.
const randomPerJob12 = 1024

func (v *family12) random(ctx context.Context, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), randomPerJob12)
		err := v.do(ctx, false, func(t transport.TPM) error { return tpm12.Random(t, p[:n]) })
		if err != nil {
			return classify12("TPM_GetRandom", err)
		}
		p = p[n:]
	}
	return nil
}
