package tpmcore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/rm"
	"tpmfs/tpmcore/tpm12"
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

	info  Info
	banks []Bank
	// extendL0 marks the PCRs the TPM lets locality 0 extend.
	extendL0 [maxPCRs]bool
	// maxRandom is the most bytes one GetRandom returns (TPM_PT_MAX_DIGEST).
	maxRandom int
	pcrs      *pcrBatcher

	// sealReady is when SealReady last succeeded (unix nanos).
	sealReady atomic.Int64

	rmOnce sync.Mutex
	rm     *rm.Manager // resource manager for raw clients, made on first use

	// v12 is set on a TPM 1.2 (family12.go); the public methods then
	// dispatch to their TPM 1.2 versions.
	v12 *family12
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
	c.q = newQueue(open, conn, opts.CommandTimeout, opts.Log)
	c.q.onReopen = func(t transport.TPM) error {
		startup(t)
		return nil
	}
	c.q.onLeftovers = flushLeftovers
	c.pcrs = newPCRBatcher(c)

	ctx, cancel := context.WithTimeout(context.Background(), 2*opts.OpTimeout)
	defer cancel()
	err = c.q.do(ctx, func(t transport.TPM) error {
		is12, err := detectFamily(t)
		if err != nil {
			return err
		}
		if is12 {
			return c.start12(t)
		}
		startup(t)
		if err := flushLeftovers(t); err != nil {
			c.log.WithError(err).Warn("could not flush objects an earlier run left in the TPM")
		}
		return c.probe(t)
	})
	if err != nil {
		c.q.close()
		return nil, fmt.Errorf("probe TPM %s: %w", opts.Source, err)
	}
	return c, nil
}

// Close stops the queue and closes the connection.
func (c *Core) Close() error { return c.q.close() }

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

// ctx applies the default operation timeout.
func (c *Core) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	if _, ok := parent.Deadline(); ok {
		return context.WithCancel(parent)
	}
	return context.WithTimeout(parent, c.opts.OpTimeout)
}

// startup sends TPM2_Startup(CLEAR); a TPM already started answers
// TPM_RC_INITIALIZE, which is what we expect from a kernel-managed TPM.
func startup(t transport.TPM) {
	_, _ = tpm2.Startup{StartupType: tpm2.TPMSUClear}.Execute(t)
}

// detectFamily sends a TPM 2.0 command and reports whether the answer is
// a TPM 1.2's (its own response tags, TPM_TAG_RSP_COMMAND and friends).
func detectFamily(t transport.TPM) (is12 bool, err error) {
	rec := &recorder{t: t}
	_, err = tpm2.GetRandom{BytesRequested: 8}.Execute(rec)
	if tpm12.IsTPM12Response(rec.last) {
		return true, nil
	}
	if _, isRC := RC(err); err != nil && !isRC {
		return false, err
	}
	return false, nil
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
