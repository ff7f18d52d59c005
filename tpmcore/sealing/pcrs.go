package sealing

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
)

// maxPCRRestarts bounds how often readPCRs starts over because PCRs moved
// between its partial reads.
const maxPCRRestarts = 8

// readPCRs returns the current values of sel's PCRs in sel.PCRs() order.
// A TPM answers only part of a large selection per PCR_Read, so it reads
// until all are in, and starts over if the PCR update counter moves in
// between: the values then all come from one moment, as a policy needs.
func readPCRs(tpm transport.TPM, sel pcrsel.Selection) ([]PCRValue, error) {
	got := make(map[pcrsel.PCR][]byte, sel.Len())
	want := sel
	var counter uint32
	restarts := 0
	for first := true; !want.IsEmpty(); first = false {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: want.TPML()}.Execute(tpm)
		if errors.Is(err, tpm2.TPMRCHash) {
			// A bank this TPM does not implement at all.
			return nil, fmt.Errorf("read PCRs %s: %w: %w", want, ErrPCRUnavailable, err)
		}
		if err != nil {
			return nil, fmt.Errorf("read PCRs %s: %w", want, err)
		}
		if !first && rsp.PCRUpdateCounter != counter {
			if restarts++; restarts > maxPCRRestarts {
				return nil, fmt.Errorf("read PCRs %s: PCRs keep changing", sel)
			}
			// This answer is of the new moment; the earlier ones are not.
			clear(got)
			want = sel
		}
		counter = rsp.PCRUpdateCounter
		pcrs, err := pcrsel.ListTPML(rsp.PCRSelectionOut)
		if err != nil {
			return nil, fmt.Errorf("read PCRs %s: %w", want, err)
		}
		if len(pcrs) != len(rsp.PCRValues.Digests) {
			return nil, fmt.Errorf("read PCRs %s: TPM returned %d values for %d PCRs", want, len(rsp.PCRValues.Digests), len(pcrs))
		}
		if len(pcrs) == 0 {
			return nil, fmt.Errorf("read PCRs: %w: %s", ErrPCRUnavailable, want)
		}
		for i, p := range pcrs {
			d := rsp.PCRValues.Digests[i].Buffer
			if !want.Has(p) {
				return nil, fmt.Errorf("read PCRs %s: TPM returned %s unasked", want, p)
			}
			if len(d) != p.Bank.Size {
				return nil, fmt.Errorf("read PCRs %s: TPM returned %d bytes for %s", want, len(d), p)
			}
			got[p] = d
		}
		done, err := pcrsel.Of(pcrs...)
		if err != nil {
			return nil, fmt.Errorf("read PCRs %s: %w", want, err)
		}
		want = want.Minus(done)
	}
	out := make([]PCRValue, 0, len(got))
	for _, p := range sel.PCRs() {
		out = append(out, PCRValue{Bank: p.Bank.Name, Index: p.Index, Digest: got[p]})
	}
	return out, nil
}

// differing returns the current values of the PCRs of sel whose value is
// not the sealed-to one.
func differing(tpm transport.TPM, sel pcrsel.Selection, sealed []PCRValue) ([]PCRValue, error) {
	now, err := readPCRs(tpm, sel)
	if err != nil {
		return nil, err
	}
	was := make(map[string][]byte, len(sealed))
	for _, v := range sealed {
		was[v.String()] = v.Digest
	}
	var out []PCRValue
	for _, v := range now {
		if old, ok := was[v.String()]; !ok || !bytes.Equal(old, v.Digest) {
			out = append(out, v)
		}
	}
	return out, nil
}

// ReadPCRs returns the current values of sel's PCRs in sel.PCRs() order,
// all from one moment (see readPCRs), for others that need PCR values
// with a meaning (quotes).
func ReadPCRs(tpm transport.TPM, sel pcrsel.Selection) ([]PCRValue, error) {
	return readPCRs(tpm, sel)
}
