package tpmcore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore/pcrsel"
)

// Options tune a Core.
type Options struct {
	// Source names the TPM in info and logs ("swtpm:host=…").
	Source string
	// CommandTimeout bounds one command on the wire (default 8s).
	CommandTimeout time.Duration
	// OpTimeout bounds a whole operation, queueing included, when the
	// caller's context has no deadline (default 10s).
	OpTimeout time.Duration
	// OwnerAuth is the storage hierarchy's secret (nil: well-known). On
	// a TPM 1.2 the SRK secret is its SHA-1, as TrouSerS derives one from
	// a password; nil is TrouSerS' well-known secret, 20 zero bytes.
	OwnerAuth []byte
	// RawRules hold raw clients (NewClient) that are not admins to a
	// command policy and a quota per uid; the zero value restricts nobody.
	RawRules RawRules
	Log      *logrus.Entry
}

// Core is the multiplexing core. It is safe for concurrent use.
type Core struct {
	q    *queue
	opts Options
	log  *logrus.Entry

	// fam is the TPM's family, chosen once by detectFamily.
	fam family
	identity

	// sealReady is when SealReady last succeeded (unix nanos).
	sealReady atomic.Int64
	// ekPEMs are the EKs' public keys by certificate index (attest.go);
	// nvAuth the NV indices whose auth value is not empty (nvram.go).
	ekPEMs sync.Map
	nvAuth nvAuthFailures

	// rec records every extend (record.go); nil: none. Set once,
	// before other operations.
	rec Recorder
}

// Bank is a PCR bank: its tpm2-tools name, algorithm and digest size.
type Bank = pcrsel.Bank

// maxPCRs is the number of PCRs tpmfs exposes (PC Client: 24).
const maxPCRs = 24

// NumPCRs is the number of PCRs in each bank.
const NumPCRs = maxPCRs

// New opens the TPM with open, detects its family (2.0 or 1.2) and reads
// what the layers above need to know (banks, extend permissions, identity).
func New(open Opener, opts Options) (*Core, error) {
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 8 * time.Second
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	conn, err := open()
	if err != nil {
		return nil, fmt.Errorf("open TPM %s: %w: %w", opts.Source, ErrUnavailable, err)
	}
	c := &Core{opts: opts, log: opts.Log}
	// The queue runs without hooks until the family installs its own.
	c.q = newQueue(open, conn, opts.CommandTimeout, opts.Log)

	ctx, cancel := context.WithTimeout(context.Background(), 2*opts.OpTimeout)
	defer cancel()
	err = c.q.do(ctx, func(t transport.TPM) error {
		fam, err := c.detectFamily(t)
		if err != nil {
			return err
		}
		id, err := fam.start(t)
		if err != nil {
			return err
		}
		c.fam, c.identity = fam, id
		return nil
	})
	if err != nil {
		c.q.close()
		return nil, fmt.Errorf("probe TPM %s: %w", opts.Source, err)
	}
	return c, nil
}

// Close flushes what tpmcore keeps in the TPM, stops the queue and
// closes the connection.
func (c *Core) Close() error {
	if s, ok := c.fam.(interface{ stop(context.Context) error }); ok {
		// A courtesy to the TPM: a stalled one does not hold Close up.
		ctx, cancel := context.WithTimeout(context.Background(), min(c.opts.OpTimeout, time.Second))
		if err := s.stop(ctx); err != nil {
			c.log.WithError(err).Debug("flushing what tpmcore kept in the TPM")
		}
		cancel()
	}
	return c.q.close()
}

// Banks returns the active PCR banks in algorithm order.
func (c *Core) Banks() []Bank { return append([]Bank(nil), c.banks...) }

// Bank returns the active bank with the given name.
func (c *Core) Bank(name string) (Bank, bool) {
	for _, b := range c.banks {
		if b.Name == name {
			return b, true
		}
	}
	return Bank{}, false
}

// DefaultBank is the bank shown by pcrs/NN when none is configured:
// sha256 if active, else the first active bank.
func (c *Core) DefaultBank() Bank {
	if b, ok := c.Bank("sha256"); ok {
		return b
	}
	return c.banks[0]
}

// CanExtend reports whether the TPM lets this locality extend PCR idx.
func (c *Core) CanExtend(idx int) bool {
	return idx >= 0 && idx < maxPCRs && c.extendL0[idx]
}

// Info returns the TPM's identity, read at start.
func (c *Core) Info() Info { return c.info }

// checkBank refuses a bank the TPM does not have active.
func (c *Core) checkBank(b Bank) error {
	if have, ok := c.Bank(b.Name); !ok || have != b {
		return fmt.Errorf("%w: bank %s is not active on this TPM", ErrInvalid, b.Name)
	}
	return nil
}

// checkIndex refuses a PCR index outside 0..NumPCRs-1.
func checkIndex(idx int) error {
	if idx < 0 || idx >= maxPCRs {
		return fmt.Errorf("%w: index out of range", ErrInvalid)
	}
	return nil
}

// checkExtend refuses a PCR this locality may not extend.
func (c *Core) checkExtend(idx int) error {
	if err := checkIndex(idx); err != nil {
		return err
	}
	if !c.CanExtend(idx) {
		return fmt.Errorf("%w: locality 0 may not extend pcr %d", ErrNotAllowed, idx)
	}
	return nil
}

// ctx applies the default operation timeout.
func (c *Core) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	if _, ok := parent.Deadline(); ok {
		return context.WithCancel(parent)
	}
	return context.WithTimeout(parent, c.opts.OpTimeout)
}
