package vault

import (
	"bytes"
	"fmt"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsig"
)

// Signed PCR policies: authkey is the key, set before the first seal and
// fixed after; pcrsig holds policies it signed, which change without a
// reseal. Both are checked in full at commit and as far as they go at
// each write, and pcrsig's signatures against the authkey, so that no
// file holds what the TPM would refuse later.

// checkSigned refuses to open authkey or pcrsig for writing where they
// cannot be written at all.
func (v *Vault) checkSigned(rec *sealstore.Record, part Part) error {
	if !part.Signed() {
		return nil
	}
	if err := v.tpm.SignedPolicies(); err != nil {
		return fmt.Errorf("%s/%s: %w", rec.Name, part, err)
	}
	if part == PCRSig && len(rec.AuthKey) == 0 {
		return fmt.Errorf("%s/pcrsig: %w: no authkey to check signatures against; write authkey first", rec.Name, tpmcore.ErrInvalid)
	}
	return nil
}

// binding is what rec's data is to be sealed to: its PCR spec and its
// authkey.
func (v *Vault) binding(rec *sealstore.Record) (tpmcore.Binding, error) {
	spec, err := v.tpm.ParseSpec(rec.Selection)
	if err != nil {
		return tpmcore.Binding{}, fmt.Errorf("%s/pcrs: %w", rec.Name, err)
	}
	b := tpmcore.Binding{PCRs: spec}
	if len(rec.AuthKey) > 0 {
		if b.AuthKey, err = pcrsig.KeyFromDER(rec.AuthKey); err != nil {
			return tpmcore.Binding{}, fmt.Errorf("%s/authkey: %w: %w", rec.Name, ErrDamaged, err)
		}
	}
	return b, nil
}

// authKey parses the written authkey: nil for an empty file (no key). A
// key other than the one data is sealed with is ErrFixed. Unless final,
// text that may still grow into a key is no error yet.
func (w *writer) authKey(final bool) (*tpmcore.AuthKey, error) {
	if len(bytes.TrimSpace(w.buf)) == 0 {
		if !final {
			return nil, nil
		}
	} else if !final {
		complete, err := pcrsig.KeyPartial(w.buf)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", tpmcore.ErrInvalid, err)
		}
		if !complete {
			return nil, nil
		}
	}
	var key *tpmcore.AuthKey
	if len(bytes.TrimSpace(w.buf)) > 0 {
		var err error
		if key, err = w.v.tpm.ParseAuthKey(w.buf); err != nil {
			return nil, err
		}
	}
	rec, err := w.v.loadRef(w.ref)
	if err != nil {
		return nil, err
	}
	var der []byte
	if key != nil {
		der = key.DER
	}
	if rec.Sealed != nil && !bytes.Equal(der, rec.AuthKey) {
		return nil, fmt.Errorf("%w: data is sealed with the authkey it has; rmdir the object and seal anew to change it", ErrFixed)
	}
	return key, nil
}

// signatures parses the written pcrsig and checks every signature
// against the object's authkey: nil for an empty file (none). Unless
// final, text that may still grow into a whole JSON object is no error
// yet.
func (w *writer) signatures(final bool) (*tpmcore.Signatures, error) {
	if !final {
		complete, err := pcrsig.Partial(w.buf)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", tpmcore.ErrInvalid, err)
		}
		if !complete {
			return nil, nil
		}
	}
	set, err := pcrsig.Parse(w.buf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tpmcore.ErrInvalid, err)
	}
	if len(set.Policies) == 0 {
		return nil, nil
	}
	rec, err := w.v.loadRef(w.ref)
	if err != nil {
		return nil, err
	}
	if len(rec.AuthKey) == 0 {
		return nil, fmt.Errorf("%w: no authkey to check signatures against; write authkey first", tpmcore.ErrInvalid)
	}
	key, err := pcrsig.KeyFromDER(rec.AuthKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	if err := set.Verify(key); err != nil {
		return nil, fmt.Errorf("%w: %w", tpmcore.ErrInvalid, err)
	}
	return set, nil
}
