package tpmcore

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/tpm12"
)

// family12 is the TPM 1.2 family: one bank (sha1), operations by package
// tpm12, sealing by sealing.Seal12, and raw clients as a passthrough with
// one opener at a time (client12.go). Every operation runs as one queue
// job through do, so that a TSS sharing the TPM through the passthrough
// never has a command land between our OSAP and our Seal.
type family12 struct {
	c *Core

	// srkAuth is the SRK secret: the well-known 20 zero bytes, or the
	// SHA-1 of srk_auth=file:'s contents (TrouSerS' plain secret).
	srkAuth [sha1.Size]byte

	// rawMu guards rawOpen: the passthrough has one opener at a time.
	rawMu   sync.Mutex
	rawOpen bool
	rawUID  uint32 // the opener's, for status

	// Worker-owned: the auth sessions loaded when the last session
	// job started, kept while that job may have left sessions behind
	// (it failed, or its caller gave up between OSAP and the flush).
	before []uint32
	watch  bool
}

func newFamily12(c *Core) *family12 {
	v := &family12{c: c, srkAuth: tpm12.WellKnownAuth}
	if c.opts.OwnerAuth != nil {
		v.srkAuth = tpm12.AuthFromPassword(c.opts.OwnerAuth)
	}
	return v
}

// start reads the TPM's identity. A TPM 1.2 knows neither TPM2_Startup
// (swtpm's startup-clear or the firmware starts it) nor TPM 2.0 handles;
// and flushing every handle would hit a TSS's: only our own leftovers are
// flushed.
func (v *family12) start(t transport.TPM) (identity, error) {
	v.c.q.onLeftovers = v.flushLeftovers
	return v.probe(t)
}

// probe reads the TPM's identity. A TPM 1.2 has one bank, sha1; which
// PCRs locality 0 may extend comes from the PC Client table, as it does
// not report PCR attributes.
func (v *family12) probe(t transport.TPM) (identity, error) {
	var id identity
	info, err := tpm12.GetInfo(t)
	if err != nil {
		return id, classify12("read TPM 1.2 properties", err)
	}
	id.info = Info{
		Family:       tpm12.Family,
		Manufacturer: info.Manufacturer,
		Vendor:       tpmwire.VendorText(info.VendorSpecific),
		Firmware:     info.ChipVersion,
		Revision:     fmt.Sprintf("level %d errata %d", info.SpecLevel, info.ErrataRev),
		Banks:        []string{pcrsel.SHA1.Name},
		Source:       v.c.opts.Source,
	}
	id.banks = []Bank{pcrsel.SHA1}
	for i := range maxPCRs {
		id.extendL0[i] = tpm12.CanExtend(i) && i < info.NumPCRs
	}
	log := v.c.log.WithField("family", tpm12.Family)
	if info.Disabled || info.Deactivated {
		log.Warn("TPM 1.2 is disabled or deactivated: most operations will fail until it is enabled and activated (firmware setup, or tpm_setenable/tpm_setactive)")
	}
	if !info.Owned {
		log.Warn("TPM 1.2 has no owner: seal/ fails until the administrator takes ownership, e.g. tpm_takeownership -z through tpmrm0 with TrouSerS' tcsd")
	}
	return id, nil
}

// do runs fn as one exclusive queue job. With sessions set, fn may
// start authorization sessions: the handles loaded before it are noted,
// so that if fn fails or is cut short, flushLeftovers ends exactly the
// sessions it started and never one of a TSS.
func (v *family12) do(ctx context.Context, sessions bool, fn func(t transport.TPM) error) error {
	return v.c.q.do(ctx, func(t transport.TPM) error {
		// Whatever an earlier job left and was not flushed before this
		// one (a reconnect came between) is no longer known to be ours.
		v.watch, v.before = false, nil
		if sessions {
			before, err := tpm12.LoadedHandles(t, tpm12.ResourceAuth)
			if err != nil {
				return classify12("list loaded sessions", err)
			}
			v.watch, v.before = true, before
		}
		err := fn(t)
		if err == nil {
			v.watch, v.before = false, nil
		}
		return err
	})
}

// flushLeftovers is the queue's leftovers hook on a TPM 1.2: it runs
// before the job after a failed one, so the sessions that appeared since
// the failed job started are that job's.
func (v *family12) flushLeftovers(t transport.TPM) error {
	if !v.watch {
		return nil
	}
	before := v.before
	v.watch, v.before = false, nil
	now, err := tpm12.LoadedHandles(t, tpm12.ResourceAuth)
	if err != nil {
		return fmt.Errorf("list loaded sessions: %w", err)
	}
	var errs []error
	for _, h := range now {
		if !slices.Contains(before, h) {
			if err := tpm12.FlushSession(t, h); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// classify12 wraps an error of package tpm12 in the tpmcore sentinel its
// cause belongs to, keeping the TPM 1.2 response code reachable.
func classify12(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed), errors.Is(err, ErrInvalid),
		errors.Is(err, ErrNotOwned):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, tpm12.ErrBadIndex), errors.Is(err, tpm12.ErrInvalid):
		return fmt.Errorf("%s: %w: %w", op, ErrInvalid, err)
	case errors.Is(err, tpm12.ErrLocality):
		return fmt.Errorf("%s: %w: %w", op, ErrNotAllowed, err)
	case errors.Is(err, tpm12.ErrAuth), errors.Is(err, tpm12.ErrLockout):
		return fmt.Errorf("%s: %w: %w (check srk_auth=)", op, ErrNotAllowed, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (v *family12) pcrReadCode() uint32 { return tpm12.OrdPCRRead }

func (v *family12) commandName(code uint32) string { return tpm12.OrdinalName(code) }

// rawUsage reports the passthrough's one opener; it holds what its TSS
// manages, which tpmcore does not count.
func (v *family12) rawUsage() []RawUsage {
	v.rawMu.Lock()
	defer v.rawMu.Unlock()
	if !v.rawOpen {
		return nil
	}
	return []RawUsage{{UID: v.rawUID, Opens: 1}}
}
