package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// pcrBatcher coalesces PCR reads: readers that arrive while a batch waits
// in the queue join it, and the batch reads them all with as few
// PCR_Read commands as the TPM allows (one selection carries several PCRs
// and banks; a response holds at most 8 digests).
//
// The reader that opens a batch carries it through the queue on its own
// goroutine, so a lone reader costs no extra goroutine or hand-off. It
// waits for the batch even if its caller gives up (the others depend on
// it); that wait is bounded by OpTimeout.
//
// Readers that read again and again (8 processes each reading a PCR)
// come back a moment after their batch is answered, just too late for
// the batch then being sent, and batches would carry half of what one
// PCR_Read can. So before it queues, a batch waits for the readers it
// expects: those of the batch in flight (they come back once it is
// answered) besides its own, and at least as many as the last batch had;
// or for a whole answer's worth of PCRs. It waits no longer than a
// quarter of a PCR_Read after the batch in flight is answered: readers
// that do not come back cost that once.
type pcrBatcher struct {
	c    *Core
	mu   sync.Mutex
	open *pcrBatch // queued and still taking readers; nil if none
	// sent is the last batch sent to the TPM (in flight until it is done).
	sent *pcrBatch
	// lastRead is how long the last PCR_Read took (ns).
	lastRead atomic.Int64
}

// maxBatchWait bounds a batch's wait for readers on a slow TPM.
const maxBatchWait = 5 * time.Millisecond

type pcrKey struct {
	alg tpm2.TPMIAlgHash
	idx int
}

// pcrBatch is one trip through the queue.
type pcrBatch struct {
	keys    []pcrKey      // distinct PCRs asked for; grows only while open
	readers int           // readers that joined
	want    int           // readers the lead waits for (0: none)
	filled  chan struct{} // closed when want is met; made when the lead waits
	once    sync.Once
	vals    [][]byte // parallel to keys, set once by finish
	err     error
	// done is closed by finish; made by the first reader to join (or to
	// wait for it), so a lone reader allocates no channel. Under mu.
	done     chan struct{}
	finished bool // finish ran; under mu
	// A batch of one answer's worth needs no other allocation.
	keysBuf [batchDigests]pcrKey
	valsBuf [batchDigests][]byte
}

func newPCRBatcher(c *Core) *pcrBatcher { return &pcrBatcher{c: c} }

// read returns the value of PCR idx of bank alg. The slice is shared with
// other readers of the same batch and must not be modified.
func (b *pcrBatcher) read(ctx context.Context, alg tpm2.TPMIAlgHash, idx int) ([]byte, error) {
	k := pcrKey{alg, idx}
	b.mu.Lock()
	bt := b.open
	lead := bt == nil
	if lead {
		bt = &pcrBatch{}
		bt.keys = bt.keysBuf[:0]
		b.open = bt
	} else if bt.done == nil {
		bt.done = make(chan struct{})
	}
	slot := bt.add(k)
	bt.readers++
	if !lead && bt.want > 0 && bt.full() {
		bt.want = 0
		close(bt.filled)
	}
	b.mu.Unlock()
	if lead {
		if err := b.fill(bt); err != nil {
			b.take(bt)
			b.finish(bt, nil, err)
		} else {
			b.carry(bt)
		}
	} else {
		select {
		case <-bt.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	if bt.err != nil {
		return nil, bt.err
	}
	if bt.vals[slot] == nil {
		return nil, fmt.Errorf("%w: PCR_Read returned no value for it", ErrUnsupported)
	}
	return bt.vals[slot], nil
}

// batchDigests is how many digests one PCR_Read answer carries.
const batchDigests = 8

// full: the batch has the readers it waits for, or a whole answer.
func (bt *pcrBatch) full() bool { return bt.readers >= bt.want || len(bt.keys) >= batchDigests }

// fill lets bt wait for the readers expected back (see pcrBatcher). If
// the batch it waited behind met a TPM that took a timeout to fail, bt
// fails with it, as the jobs waiting in the queue then do.
func (b *pcrBatcher) fill(bt *pcrBatch) error {
	b.mu.Lock()
	var inFlight <-chan struct{}
	if sent := b.sent; sent != nil {
		bt.want = sent.readers
		if !sent.finished {
			bt.want += bt.readers
			if sent.done == nil {
				sent.done = make(chan struct{})
			}
			inFlight = sent.done
		}
	}
	sent := b.sent
	if bt.full() {
		bt.want = 0
		b.mu.Unlock()
		return nil
	}
	bt.filled = make(chan struct{})
	b.mu.Unlock()
	if inFlight != nil {
		select {
		case <-bt.filled:
			return nil
		case <-inFlight:
		}
		var f *tpmFailure
		if errors.As(sent.err, &f) && f.slow {
			return fmt.Errorf("%w: the TPM failed while this waited: %w", ErrUnavailable, f)
		}
	}
	wait := min(time.Duration(b.lastRead.Load())/4, maxBatchWait)
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-bt.filled:
	case <-timer.C:
	}
	return nil
}

func (bt *pcrBatch) add(k pcrKey) int {
	for i, x := range bt.keys {
		if x == k {
			return i
		}
	}
	bt.keys = append(bt.keys, k)
	return len(bt.keys) - 1
}

// finish publishes the outcome once: the job's, or the queue's error if
// the job never ran or did not end in time.
func (b *pcrBatcher) finish(bt *pcrBatch, vals [][]byte, err error) {
	bt.once.Do(func() {
		bt.vals, bt.err = vals, err
		b.mu.Lock()
		bt.finished = true
		done := bt.done
		b.mu.Unlock()
		if done != nil {
			close(done)
		}
	})
}

// carry runs bt as one queue job and finishes it.
func (b *pcrBatcher) carry(bt *pcrBatch) {
	err := b.c.q.doWithin(b.c.opts.OpTimeout, func(t transport.TPM) error {
		keys := b.take(bt)
		start := time.Now()
		vals, err := readBatch(t, keys, bt.valsBuf[:0])
		b.lastRead.Store(int64(time.Since(start)))
		b.finish(bt, vals, err)
		return nil // the readers have the error; the queue need not
	})
	b.take(bt)
	b.finish(bt, nil, err)
}

// take closes bt to new readers and returns what they asked for.
func (b *pcrBatcher) take(bt *pcrBatch) []pcrKey {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open == bt {
		b.open = nil
		b.sent = bt
	}
	return bt.keys
}

// readBatch reads the value of every key, with one PCR_Read per
// response's worth of digests, into vals (appended to dst). The values
// share one new buffer.
func readBatch(t transport.TPM, keys []pcrKey, dst [][]byte) ([][]byte, error) {
	vals := append(dst[:0], make([][]byte, len(keys))...)
	var buf []byte
	for {
		var sel pcrSelKey
		for i, k := range keys {
			if vals[i] == nil {
				if err := sel.add(k); err != nil {
					return nil, err
				}
			}
		}
		if sel.n == 0 {
			return vals, nil
		}
		rsp, err := t.Send(pcrReadCommand(sel))
		if err != nil {
			return nil, classify("pcr read", err)
		}
		filled := 0
		err = parsePCRRead(rsp, func(alg tpm2.TPMIAlgHash, pcr int, d []byte) {
			for j, k := range keys {
				if vals[j] == nil && k.alg == alg && k.idx == pcr {
					if buf == nil {
						// Most batches need one digest size per key.
						buf = make([]byte, 0, len(keys)*len(d))
					}
					start := len(buf)
					buf = append(buf, d...)
					vals[j] = buf[start:len(buf):len(buf)]
					filled++
				}
			}
		})
		if err != nil {
			return nil, classify("pcr read", err)
		}
		if filled == 0 {
			// Nothing asked for came back (a bank the TPM does not have):
			// asking again would get the same answer.
			return vals, nil
		}
	}
}

// pcrSelKey is a PCR selection as a comparable value: PCRs (bit i of
// masks[k]) of up to len(algs) banks, in the order first asked for.
type pcrSelKey struct {
	n     int
	algs  [8]tpm2.TPMIAlgHash
	masks [8]uint32
}

func (s *pcrSelKey) add(k pcrKey) error {
	for i := 0; i < s.n; i++ {
		if s.algs[i] == k.alg {
			s.masks[i] |= 1 << k.idx
			return nil
		}
	}
	if s.n == len(s.algs) {
		return fmt.Errorf("%w: more than %d banks in one read", ErrInvalid, len(s.algs))
	}
	s.algs[s.n], s.masks[s.n] = k.alg, 1<<k.idx
	s.n++
	return nil
}

// pcrReadCmds: in practice one command per PCR and bank, and a few for
// the combinations concurrent readers ask for.
var pcrReadCmds = cmdCache[pcrSelKey]{max: 512}

// pcrReadCommand returns the PCR_Read command for sel, built by go-tpm.
func pcrReadCommand(sel pcrSelKey) []byte {
	return pcrReadCmds.get(sel, func() []byte {
		var in tpm2.TPMLPCRSelection
		for i := 0; i < sel.n; i++ {
			var pcrs []uint
			for p := 0; p < maxPCRs; p++ {
				if sel.masks[i]&(1<<p) != 0 {
					pcrs = append(pcrs, uint(p))
				}
			}
			in.PCRSelections = append(in.PCRSelections, tpm2.TPMSPCRSelection{
				Hash: sel.algs[i], PCRSelect: tpm2.PCClientCompatible.PCRs(pcrs...),
			})
		}
		return goTPMCommand(func(t transport.TPM) { tpm2.PCRRead{PCRSelectionIn: in}.Execute(t) })
	})
}
