package sealing

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
	"tpmfs/tpmcore/tpm12"
)

// Report is what Inspect finds out about an object on this TPM now, for a
// user who wants to know why it does not open.
type Report struct {
	// PCRs has one entry per PCR the object is bound to, in selection
	// order.
	PCRs []PCRCheck
	// Signed has one entry per signed policy, in the set's order;
	// SignedNow holds the current values of the PCRs the usable ones
	// cover.
	Signed    []SignedCheck
	SignedNow []PCRValue
	// Parent is this TPM's storage root key's name (TPM 2.0), to compare
	// with Object.Parent; empty on a TPM 1.2.
	Parent []byte
	// Belongs says whether the object was sealed by this TPM (under its
	// current storage root key); Why says how that was found out.
	Belongs Belonging
	Why     string
}

// PCRCheck is one PCR of an object: its current value (PCRValue), and the
// value the object is sealed to.
type PCRCheck struct {
	PCRValue
	// Want is the sealed-to value; nil while nothing is sealed and the
	// value is the one the PCR will have at seal time.
	Want []byte
	// Given reports that Want was given (predicted), not read at seal
	// time.
	Given bool
}

// Matches reports whether the PCR has the sealed-to value (or no value
// is fixed yet).
func (c PCRCheck) Matches() bool { return c.Want == nil || bytes.Equal(c.Want, c.Digest) }

// SignedCheck is one signed policy: whether the TPM can take it for the
// object's key (Usable), and whether the PCRs now have the values it was
// signed for (Matches).
type SignedCheck struct {
	Policy  pcrsig.Policy
	Usable  bool
	Matches bool
}

// Belonging is whether an object is this TPM's.
type Belonging int

const (
	BelongsUnknown   Belonging = iota // no data sealed yet, or it could not be told
	BelongsHere                       // sealed by this TPM under its current storage root key
	BelongsElsewhere                  // sealed by another TPM, or before this one's owner was cleared
)

// Inspect reports on an object bound as b (its current binding), with
// data sealed as obj (nil: none yet) and signed policies sigs, on this TPM
// 2.0: the PCRs' current values against the sealed-to ones, which signed
// policies match, and whether obj is this TPM's (by the name of the
// storage root key it records, or, for an object that records none, by
// loading it). It changes nothing, and leaves nothing loaded but what the
// Keeper keeps.
func (k *Keeper) Inspect(tpm transport.TPM, b Binding, obj *Object, sigs *pcrsig.Set) (*Report, error) {
	r := &Report{}
	err := k.repairing(tpm, func() error {
		s, err := k.sealer(tpm)
		if err != nil {
			return err
		}
		r.Parent = bytes.Clone(s.name.Buffer)
		if obj != nil {
			r.Belongs, r.Why = k.belongs(tpm, obj)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if err := r.checkPCRs(b, obj, func(sel pcrsel.Selection) ([]PCRValue, error) { return readPCRs(tpm, sel) }); err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if sigs != nil {
		match, now, err := matching(tpm, sigs)
		if err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		r.SignedNow = now
		for _, p := range sigs.Policies {
			m := false
			for _, q := range match {
				m = m || (q.Bank == p.Bank && q.PCRs == p.PCRs && bytes.Equal(q.Digest, p.Digest))
			}
			r.Signed = append(r.Signed, SignedCheck{Policy: p, Usable: Usable(p), Matches: m})
		}
	}
	return r, nil
}

// belongs tells whether obj is this TPM's: by the recorded name of the
// storage root key it was sealed under (either of the Keeper's), or by
// loading it under them.
func (k *Keeper) belongs(tpm transport.TPM, obj *Object) (Belonging, string) {
	if obj.Family != "" {
		return BelongsElsewhere, "sealed by a TPM " + obj.Family
	}
	var names []string
	for _, next := range k.parents(obj) {
		s, err := next(tpm)
		if err != nil {
			return BelongsUnknown, err.Error()
		}
		if s == nil {
			continue
		}
		if len(obj.Parent) > 0 {
			return BelongsHere, fmt.Sprintf("sealed under this TPM's storage root key %x", obj.Parent)
		}
		names = append(names, fmt.Sprintf("%x", s.name.Buffer))
		d, err := decode(obj)
		if err != nil {
			return BelongsUnknown, err.Error()
		}
		rsp, err := tpm2.Load{
			ParentHandle: tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: tpm2.PasswordAuth(nil)},
			InPrivate:    d.priv,
			InPublic:     d.pub,
		}.Execute(tpm)
		switch {
		case errors.Is(err, tpm2.TPMRCIntegrity), errors.Is(err, tpm2.TPMRCBinding):
			continue
		case err != nil:
			return BelongsUnknown, err.Error()
		}
		if err := flush(tpm, rsp.ObjectHandle); err != nil {
			return BelongsUnknown, err.Error()
		}
		return BelongsHere, "this TPM's storage root key loads it"
	}
	if len(obj.Parent) > 0 {
		return BelongsElsewhere, fmt.Sprintf("sealed under storage root key %x, which this TPM does not have", obj.Parent)
	}
	return BelongsElsewhere, "this TPM's storage root keys do not load it"
}

// checkPCRs fills r.PCRs: the binding's PCRs (obj's, once sealed), their
// sealed-to or given values, and their current values from read.
func (r *Report) checkPCRs(b Binding, obj *Object, read func(pcrsel.Selection) ([]PCRValue, error)) error {
	sel := b.PCRs.Selection()
	want := map[string][]byte{}
	if obj != nil {
		var err error
		if sel, err = pcrsel.Parse(obj.Selection); err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		for _, v := range obj.PCRValues {
			want[v.String()] = v.Digest
		}
	} else {
		for _, v := range b.PCRs.Values() {
			want[v.PCR.String()] = v.Digest
		}
	}
	if sel.IsEmpty() {
		return nil
	}
	now, err := read(sel)
	if err != nil {
		return err
	}
	given := b.PCRs.Given()
	for _, v := range now {
		bank, _ := pcrsel.BankByName(v.Bank)
		r.PCRs = append(r.PCRs, PCRCheck{
			PCRValue: v,
			Want:     want[v.String()],
			Given:    given.Has(pcrsel.PCR{Bank: bank, Index: v.Index}),
		})
	}
	return nil
}

// Inspect12 is Inspect on a TPM 1.2, which has no signed policies and
// whose SRK cannot be read: whether obj is this TPM's is found by asking
// the TPM to unseal it, which it refuses as TPM_WRONGPCRVAL only after
// its SRK has decrypted the blob.
func Inspect12(tpm transport.TPM, srkAuth [sha1.Size]byte, b Binding, obj *Object) (*Report, error) {
	r := &Report{}
	if obj != nil {
		r.Belongs, r.Why = belongs12(tpm, srkAuth, obj)
	}
	err := r.checkPCRs(b, obj, func(sel pcrsel.Selection) ([]PCRValue, error) {
		var out []PCRValue
		for _, p := range sel.PCRs() {
			if p.Bank != pcrsel.SHA1 {
				return nil, fmt.Errorf("%w: a TPM 1.2 has only the sha1 bank, not %s", ErrPCRUnavailable, p.Bank.Name)
			}
			v, err := tpm12.ReadPCR(tpm, p.Index)
			if err != nil {
				return nil, err
			}
			out = append(out, PCRValue{Bank: p.Bank.Name, Index: p.Index, Digest: bytes.Clone(v[:])})
		}
		return out, nil
	})
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	return r, nil
}

func belongs12(tpm transport.TPM, srkAuth [sha1.Size]byte, obj *Object) (Belonging, string) {
	if obj.Family != Family12 {
		return BelongsElsewhere, "sealed by a TPM 2.0"
	}
	if err := check12(obj); err != nil {
		return BelongsUnknown, err.Error()
	}
	key, err := tpm12.UnsealKey(tpm, srkAuth, obj.Private)
	wipe(key)
	switch {
	case err == nil, errors.Is(err, tpm12.ErrPolicy):
		return BelongsHere, "this TPM's SRK decrypts it"
	case errors.Is(err, tpm12.ErrWrongTPM):
		return BelongsElsewhere, "this TPM's SRK does not decrypt it (another TPM, or another owner)"
	}
	return BelongsUnknown, err.Error()
}
