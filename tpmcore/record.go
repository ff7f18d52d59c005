package tpmcore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/go-tpm/tpm2"
)

// The record-with-extend hook: with a Recorder set, an extend and its
// record are one queue job, so no command of anyone else comes between
// the record being made durable and the extend, and no extend is made
// that the Recorder refused to record (a full or read-only state
// directory refuses the extend with its error).
//
// A job: read the TPM's boot (a new boot starts a new log); settle a
// record left pending by an extend whose outcome was unknown (the PCR is
// read: H(before ‖ digest) in every bank means it was extended); read
// the values before the extend; Begin (the record is durable as
// pending); send the extend; Resolve (kept if it succeeded; after an
// error, kept or dropped as the PCR says). If the TPM does not answer,
// the record stays pending and the next job settles it.

// Boot names one boot of the TPM: what a log of its PCRs belongs to.
type Boot struct {
	Family string // "2.0" or "1.2"
	// ResetCount and RestartCount are a TPM 2.0's (TPM2_ReadClock).
	ResetCount, RestartCount uint32
	// TickNonce is a TPM 1.2's (TPM_GetTicks), drawn at each power-on.
	TickNonce [20]byte
}

// String names the boot as the log's header does.
func (b Boot) String() string {
	if b.Family == "1.2" {
		return fmt.Sprintf("TPM 1.2 tick nonce %x", b.TickNonce)
	}
	return fmt.Sprintf("TPM 2.0 reset %d restart %d", b.ResetCount, b.RestartCount)
}

// Digest is one bank's digest of an extend.
type Digest struct {
	Bank  Bank
	Value []byte
}

// Extension is one extend made through Extend or Measure, as a Recorder
// sees it.
type Extension struct {
	PCR     int
	Digests []Digest // one per bank extended
	// Before holds each bank's value before the extend, parallel to
	// Digests: how a pending record is settled.
	Before [][]byte
	// Event is the data Measure measured; nil for Extend.
	Event    []byte
	Measured bool
	// UID is the caller's (WithCaller), else the daemon's own.
	UID  uint32
	Time time.Time
	Boot Boot
}

// Done reports whether now, the PCR's values in the order of Digests,
// are those the extend leads to: H(before ‖ digest) in every bank Go can
// hash (at least one).
func (e *Extension) Done(now [][]byte) bool {
	checked := false
	for i, d := range e.Digests {
		if d.Bank.Hash == 0 || i >= len(e.Before) || i >= len(now) {
			continue
		}
		h := d.Bank.Hash.New()
		h.Write(e.Before[i])
		h.Write(d.Value)
		if !bytes.Equal(h.Sum(nil), now[i]) {
			return false
		}
		checked = true
	}
	return checked
}

// Recorder keeps the log of the extends made through tpmcore (package
// measurelog). Its methods run on the queue's worker, inside the job of
// the extend they record, one at a time; they must not call Core.
type Recorder interface {
	// Boot is the boot the log belongs to; false if there is no log.
	Boot() (Boot, bool)
	// NewBoot starts a log for boot b (keeping the old one); a record
	// pending from the old boot is dropped, its outcome unknowable.
	NewBoot(b Boot) error
	// Pending is the record of an extend whose outcome is not known (a
	// crash, a TPM that did not answer), or nil.
	Pending() *Extension
	// Begin makes the record of e durable as pending; an error refuses
	// the extend.
	Begin(e *Extension) error
	// Resolve keeps (the extend was made) or drops the pending record.
	Resolve(done bool) error
}

// SetRecorder makes every Extend and Measure from now on a recorded one,
// and settles what the log needs now (a new TPM boot, a record left
// pending by a crash). Call it once, before other operations.
func (c *Core) SetRecorder(ctx context.Context, r Recorder) error {
	c.rec = r
	return c.Settle(ctx)
}

// Settle brings the Recorder's log up to date with the TPM: a new boot
// starts a new log, and a pending record is kept or dropped.
func (c *Core) Settle(ctx context.Context) error {
	if c.rec == nil {
		return nil
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return c.fam.pcrJob(ctx, func(ops pcrOps) error {
		_, err := c.settle(ops)
		return err
	})
}

// ReadAllPCRs reads every PCR of every active bank in one job, after
// settling the log; during, if not nil, runs on the worker in that job,
// so that what it sees of the log matches the values. The result is
// indexed by bank name, then PCR.
func (c *Core) ReadAllPCRs(ctx context.Context, during func()) (map[string][][]byte, error) {
	var keys []pcrKey
	for _, b := range c.banks {
		for i := range maxPCRs {
			keys = append(keys, pcrKey{b.Alg, i})
		}
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	vals := map[string][][]byte{}
	err := c.fam.pcrJob(ctx, func(ops pcrOps) error {
		if c.rec != nil {
			if _, err := c.settle(ops); err != nil {
				return err
			}
		}
		got, err := ops.read(keys)
		if err != nil {
			return err
		}
		for i, k := range keys {
			b, _ := c.bankOf(k.alg)
			vals[b.Name] = append(vals[b.Name], got[i])
		}
		if during != nil {
			during()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read all PCRs: %w", err)
	}
	return vals, nil
}

// settle: see Settle. It returns the TPM's boot.
func (c *Core) settle(ops pcrOps) (Boot, error) {
	boot, err := ops.boot()
	if err != nil {
		return boot, err
	}
	if cur, ok := c.rec.Boot(); !ok || cur != boot {
		if ok {
			c.log.WithField("boot", boot.String()).Info("the TPM was reset: a new event log begins, the old one is kept as .1")
		}
		if err := c.rec.NewBoot(boot); err != nil {
			return boot, fmt.Errorf("start the event log of this TPM boot: %w", err)
		}
	}
	if p := c.rec.Pending(); p != nil {
		now, err := ops.read(keysOf(p))
		if err != nil {
			return boot, err
		}
		if err := c.rec.Resolve(p.Done(now)); err != nil {
			return boot, fmt.Errorf("settle the pending event log record: %w", err)
		}
	}
	return boot, nil
}

// recordedExtend runs e's extend, which send makes, as one recorded job.
func (c *Core) recordedExtend(ctx context.Context, e *Extension, send func(ops pcrOps) error) error {
	e.UID, e.Time = callerOf(ctx), time.Now()
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return c.fam.pcrJob(ctx, func(ops pcrOps) error {
		boot, err := c.settle(ops)
		if err != nil {
			return err
		}
		if e.Before, err = ops.read(keysOf(e)); err != nil {
			return err
		}
		e.Boot = boot
		if err := c.rec.Begin(e); err != nil {
			return fmt.Errorf("record in the event log: %w", err)
		}
		err = send(ops)
		if err == nil {
			// The PCR is extended whatever happens to the log now; a
			// record that fails to land stays pending, and lands when
			// the next job settles it.
			if rerr := c.rec.Resolve(true); rerr != nil {
				c.log.WithError(rerr).WithField("pcr", e.PCR).Warn("extended, but the event log record is still pending")
			}
			return nil
		}
		// An error answer means the TPM did not extend, but a garbled
		// answer may hide one that did: ask the PCR. If the TPM does not
		// answer that either, the record stays pending.
		if now, rerr := ops.read(keysOf(e)); rerr == nil {
			if rerr := c.rec.Resolve(e.Done(now)); rerr != nil {
				c.log.WithError(rerr).WithField("pcr", e.PCR).Warn("settling the record of a failed extend")
			}
		}
		return err
	})
}

// recordExtend is Extend with a Recorder.
func (c *Core) recordExtend(ctx context.Context, bank Bank, idx int, digest []byte) error {
	e := &Extension{PCR: idx, Digests: []Digest{{bank, bytes.Clone(digest)}}}
	return c.recordedExtend(ctx, e, func(ops pcrOps) error { return ops.extend(idx, e.Digests) })
}

// recordMeasure is Measure with a Recorder: every active bank b is
// extended with H_b(data) in one command, as PCR_Event would.
func (c *Core) recordMeasure(ctx context.Context, idx int, data []byte) error {
	ds, err := c.measureDigests(data)
	if err != nil {
		return err
	}
	e := &Extension{PCR: idx, Digests: ds, Event: bytes.Clone(data), Measured: true}
	return c.recordedExtend(ctx, e, func(ops pcrOps) error { return ops.extend(idx, e.Digests) })
}

// keysOf lists the PCR e extends in each of its banks.
func keysOf(e *Extension) []pcrKey {
	keys := make([]pcrKey, len(e.Digests))
	for i, d := range e.Digests {
		keys[i] = pcrKey{d.Bank.Alg, e.PCR}
	}
	return keys
}

// bankOf returns the active bank of alg.
func (c *Core) bankOf(alg tpm2.TPMAlgID) (Bank, bool) {
	for _, b := range c.banks {
		if b.Alg == alg {
			return b, true
		}
	}
	return Bank{}, false
}

// measureDigests is H_b(data) for every active bank b.
func (c *Core) measureDigests(data []byte) ([]Digest, error) {
	ds := make([]Digest, 0, len(c.banks))
	for _, b := range c.banks {
		if b.Hash == 0 {
			// go-tpm cannot read PCR_Event's digests and Go has no SM3.
			return nil, fmt.Errorf("%w: recording events in bank %s", ErrUnsupported, b.Name)
		}
		h := b.Hash.New()
		h.Write(data)
		ds = append(ds, Digest{b, h.Sum(nil)})
	}
	return ds, nil
}

type callerKey struct{}

// WithCaller tags ctx with the uid an operation is made for, which the
// event log records.
func WithCaller(ctx context.Context, uid uint32) context.Context {
	return context.WithValue(ctx, callerKey{}, uid)
}

func callerOf(ctx context.Context) uint32 {
	if uid, ok := ctx.Value(callerKey{}).(uint32); ok {
		return uid
	}
	return uint32(os.Geteuid())
}
