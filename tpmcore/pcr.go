package tpmcore

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// ReadPCR returns the value of PCR idx in bank. Reads that wait in the
// queue together are answered by one PCR_Read.
func (c *Core) ReadPCR(ctx context.Context, bank Bank, idx int) ([]byte, error) {
	if idx < 0 || idx >= maxPCRs {
		return nil, fmt.Errorf("read pcr %d: %w: index out of range", idx, ErrInvalid)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	v, err := c.pcrs.read(ctx, bank.Alg, idx)
	if err != nil {
		return nil, fmt.Errorf("read pcr %s:%d: %w", bank.Name, idx, err)
	}
	return v, nil
}

// Extend extends PCR idx of bank with digest (PCR_Extend of that bank only).
func (c *Core) Extend(ctx context.Context, bank Bank, idx int, digest []byte) error {
	if err := c.checkExtend(idx); err != nil {
		return fmt.Errorf("extend pcr %s:%d: %w", bank.Name, idx, err)
	}
	if len(digest) != bank.Size {
		return fmt.Errorf("extend pcr %s:%d: %w: digest of %d bytes, want %d",
			bank.Name, idx, ErrInvalid, len(digest), bank.Size)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := tpm2.PCRExtend{
		PCRHandle: pcrHandle(idx),
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: bank.Alg, Digest: digest}}},
	}.Execute(c.q.sender(ctx))
	return classify(fmt.Sprintf("extend pcr %s:%d", bank.Name, idx), err)
}

// MaxEvent is the largest event tpmfs measures (the contract's 1 MiB).
const MaxEvent = 1 << 20

// maxEventData is TPM2B_EVENT's limit: larger events are hashed here.
const maxEventData = 1024

// Measure measures data into PCR idx like tpm2_pcrevent: every active bank
// b is extended with H_b(data), in one command.
func (c *Core) Measure(ctx context.Context, idx int, data []byte) error {
	if err := c.checkExtend(idx); err != nil {
		return fmt.Errorf("measure into pcr %d: %w", idx, err)
	}
	if len(data) > MaxEvent {
		return fmt.Errorf("measure into pcr %d: %w: %d bytes, at most %d", idx, ErrTooLarge, len(data), MaxEvent)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	op := fmt.Sprintf("measure into pcr %d", idx)
	if len(data) <= maxEventData {
		_, err := tpm2.PCREvent{
			PCRHandle: pcrHandle(idx),
			EventData: tpm2.TPM2BEvent{Buffer: data},
		}.Execute(c.q.sender(ctx))
		return classify(op, err)
	}
	var digests []tpm2.TPMTHA
	for _, b := range c.banks {
		h := b.Hash
		if h == 0 {
			// go-tpm lacks TPM2_EventSequenceComplete and Go lacks SM3.
			return fmt.Errorf("%s: %w: events over %d bytes in bank %s", op, ErrUnsupported, maxEventData, b.Name)
		}
		hh := h.New()
		hh.Write(data)
		digests = append(digests, tpm2.TPMTHA{HashAlg: b.Alg, Digest: hh.Sum(nil)})
	}
	_, err := tpm2.PCRExtend{
		PCRHandle: pcrHandle(idx),
		Digests:   tpm2.TPMLDigestValues{Digests: digests},
	}.Execute(c.q.sender(ctx))
	return classify(op, err)
}

func (c *Core) checkExtend(idx int) error {
	if idx < 0 || idx >= maxPCRs {
		return fmt.Errorf("%w: index out of range", ErrInvalid)
	}
	if !c.CanExtend(idx) {
		return fmt.Errorf("%w: locality 0 may not extend pcr %d", ErrNotAllowed, idx)
	}
	return nil
}

func pcrHandle(idx int) tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: tpm2.TPMHandle(idx), Auth: tpm2.PasswordAuth(nil)}
}

// pcrBatcher coalesces PCR reads: readers that arrive while a batch waits
// in the queue join it, and the batch reads them all with as few
// PCR_Read commands as the TPM allows (8 digests per response).
type pcrBatcher struct {
	c       *Core
	mu      sync.Mutex
	pending []*pcrWait
	queued  bool
}

type pcrWait struct {
	alg   tpm2.TPMIAlgHash
	idx   int
	value []byte
	err   error
	done  chan struct{}
}

func newPCRBatcher(c *Core) *pcrBatcher { return &pcrBatcher{c: c} }

func (b *pcrBatcher) read(ctx context.Context, alg tpm2.TPMIAlgHash, idx int) ([]byte, error) {
	w := &pcrWait{alg: alg, idx: idx, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, w)
	start := !b.queued
	b.queued = true
	b.mu.Unlock()
	if start {
		go b.runBatch()
	}
	select {
	case <-w.done:
		return w.value, w.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

func (b *pcrBatcher) take() []*pcrWait {
	b.mu.Lock()
	defer b.mu.Unlock()
	ws := b.pending
	b.pending = nil
	b.queued = false
	return ws
}

func (b *pcrBatcher) runBatch() {
	ctx, cancel := context.WithTimeout(context.Background(), b.c.opts.OpTimeout)
	defer cancel()
	ran := false
	err := b.c.q.do(ctx, func(t transport.TPM) error {
		ran = true
		ws := b.take()
		err := readBatch(t, ws)
		for _, w := range ws {
			if w.value == nil && w.err == nil {
				w.err = err
			}
			close(w.done)
		}
		return nil
	})
	if !ran {
		for _, w := range b.take() {
			w.err = err
			close(w.done)
		}
	}
}

// readBatch fills in the value of every waiter, with one PCR_Read per
// response's worth of digests.
func readBatch(t transport.TPM, ws []*pcrWait) error {
	for {
		want := map[tpm2.TPMIAlgHash][]uint{}
		var algs []tpm2.TPMIAlgHash
		for _, w := range ws {
			if w.value != nil {
				continue
			}
			if _, ok := want[w.alg]; !ok {
				algs = append(algs, w.alg)
			}
			want[w.alg] = append(want[w.alg], uint(w.idx))
		}
		if len(algs) == 0 {
			return nil
		}
		sel := tpm2.TPMLPCRSelection{}
		for _, alg := range algs {
			sel.PCRSelections = append(sel.PCRSelections, tpm2.TPMSPCRSelection{
				Hash: alg, PCRSelect: tpm2.PCClientCompatible.PCRs(want[alg]...),
			})
		}
		rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(t)
		if err != nil {
			return classify("pcr read", err)
		}
		got := 0
		vals := rsp.PCRValues.Digests
		for _, s := range rsp.PCRSelectionOut.PCRSelections {
			for i := 0; i < len(s.PCRSelect)*8; i++ {
				if !bitSet(s.PCRSelect, i) {
					continue
				}
				if got >= len(vals) {
					return fmt.Errorf("%w: PCR_Read returned fewer digests than selected", ErrUnavailable)
				}
				v := vals[got].Buffer
				got++
				for _, w := range ws {
					if w.value == nil && w.alg == s.Hash && w.idx == i {
						w.value = v
					}
				}
			}
		}
		if got == 0 {
			return fmt.Errorf("%w: PCR_Read returned nothing for the selection", ErrUnsupported)
		}
	}
}
