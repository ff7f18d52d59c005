package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// The TPM 2.0 family's PCR and random operations. Reads wait together
// in one batch (pcrbatch.go); PCR_Read and GetRandom take the fast paths
// of fastpath.go.

func (f *family20) readPCR(ctx context.Context, bank Bank, idx int) ([]byte, error) {
	// No derived context: on a FUSE request's context that would cost a
	// goroutine per read. The batch bounds its own wait by OpTimeout.
	return f.pcrs.read(ctx, bank.Alg, idx)
}

func (f *family20) extend(ctx context.Context, bank Bank, idx int, digest []byte) error {
	_, err := tpm2.PCRExtend{
		PCRHandle: pcrHandle(idx),
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: bank.Alg, Digest: digest}}},
	}.Execute(f.c.q.sender(ctx))
	return classify("PCR_Extend", err)
}

// maxEventData is TPM2B_EVENT's limit: larger events are hashed here.
const maxEventData = 1024

// measure sends PCR_Event, in which the TPM hashes data for every bank;
// an event too large for it is hashed here and extended in one
// PCR_Extend.
func (f *family20) measure(ctx context.Context, idx int, data []byte) error {
	if len(data) <= maxEventData {
		_, err := tpm2.PCREvent{
			PCRHandle: pcrHandle(idx),
			EventData: tpm2.TPM2BEvent{Buffer: data},
		}.Execute(f.c.q.sender(ctx))
		return classify("PCR_Event", err)
	}
	var digests []tpm2.TPMTHA
	for _, b := range f.c.banks {
		h := b.Hash
		if h == 0 {
			// go-tpm lacks TPM2_EventSequenceComplete and Go lacks SM3.
			return fmt.Errorf("%w: events over %d bytes in bank %s", ErrUnsupported, maxEventData, b.Name)
		}
		hh := h.New()
		hh.Write(data)
		digests = append(digests, tpm2.TPMTHA{HashAlg: b.Alg, Digest: hh.Sum(nil)})
	}
	_, err := tpm2.PCRExtend{
		PCRHandle: pcrHandle(idx),
		Digests:   tpm2.TPMLDigestValues{Digests: digests},
	}.Execute(f.c.q.sender(ctx))
	return classify("PCR_Extend", err)
}

func pcrHandle(idx int) tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: tpm2.TPMHandle(idx), Auth: tpm2.PasswordAuth(nil)}
}

// randomPerJob bounds how long one job of a large random read holds the
// queue, so PCR readers are not starved behind it.
const randomPerJob = 4096

// random asks for the largest chunks the TPM gives per GetRandom.
func (f *family20) random(ctx context.Context, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), randomPerJob)
		err := f.c.q.do(ctx, func(t transport.TPM) error { return fillRandom(t, p[:n], f.maxRandom) })
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// fillRandom fills p with GetRandom commands of at most chunk bytes
// (go-tpm's bytes, cached; the answer is copied straight into p).
func fillRandom(t transport.TPM, p []byte, chunk int) error {
	for len(p) > 0 {
		rsp, err := t.Send(getRandomCommand(uint16(min(len(p), chunk, 0xffff))))
		if err != nil {
			return classify("GetRandom", err)
		}
		got, err := parseGetRandom(rsp)
		if err != nil {
			return classify("GetRandom", err)
		}
		if len(got) == 0 {
			return fmt.Errorf("%w: GetRandom returned no bytes", ErrUnavailable)
		}
		p = p[copy(p, got):]
	}
	return nil
}
