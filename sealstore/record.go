package sealstore

import (
	"bytes"
	"fmt"
	"time"

	"tpmfs/tpmcore/attest"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
	"tpmfs/tpmcore/sealing"
)

// Limits enforced on every record, when saving and when loading.
const (
	// MaxMode is the largest Mode: permission, setuid, setgid and sticky
	// bits, no file type.
	MaxMode = 0o7777
	// MaxSelectionLen bounds Selection: every PCR of every bank with a
	// given value is shorter.
	MaxSelectionLen = pcrsel.MaxSpecLen
	// maxParent bounds Sealed.Parent: a TPM name is a hash algorithm and
	// a digest.
	maxParent = 2 + 64
	// MaxPCRIndex is the highest PCR index a sealed-to value may name.
	MaxPCRIndex = 31
)

// Record is one sealed object as kept in the state directory: the
// directory's ownership and mode, its PCR selection, and the sealed data
// once some has been written.
type Record struct {
	Name string // see ValidName (AKName for an attestation key); also the file name, NAME.json
	// ID is the object's identity: 32 lowercase hex digits, random at
	// creation and never reused, so a handle opened on one object never
	// reaches a later object of the same name. Save fills an empty ID.
	ID       string
	UID, GID uint32 // owner and group of seal/NAME
	Mode     uint32 // permission bits of seal/NAME, at most MaxMode
	// Selection is the PCR spec in canonical tpm2-tools syntax, PCRs
	// with a given value followed by it ("sha256:0,7=3d45…"); empty means
	// none. When Sealed is set, its PCRs are Sealed.Selection and its
	// given values are those Sealed is bound to: the data is always
	// sealed to the current spec.
	Selection string
	// AuthKey is the DER public key whose signed PCR policies open the
	// object (seal/NAME/authkey; nil: none). Sealed data carries the same
	// one: it is set before the first seal and fixed after.
	AuthKey []byte
	// Signatures are the signed PCR policies (seal/NAME/pcrsig), all by
	// AuthKey; nil or empty: none. They change without a reseal.
	Signatures *pcrsig.Set
	// Created and Modified are UTC timestamps for stat. Save fills a zero
	// value with the current time; it never changes a set one.
	Created, Modified time.Time
	// Sealed is the sealed secret, nil until data is first written.
	Sealed *sealing.Object
	// AK is the attestation key of a record named AKName(...): its type,
	// and the key once created. Such a record has no Selection or Sealed;
	// every other record has no AK.
	AK *attest.Key
}

// validate checks everything a file must satisfy to be loaded back. It is
// shared by Save (so nothing unloadable is written) and by decoding.
func (r *Record) validate() error {
	if err := validStoreName(r.Name); err != nil {
		return err
	}
	if !validID(r.ID) {
		return fmt.Errorf("id %q: want %d lowercase hex digits", r.ID, idLen)
	}
	if r.Mode > MaxMode {
		return fmt.Errorf("mode %#o is more than %#o", r.Mode, MaxMode)
	}
	spec, err := validSelection(r.Selection)
	if err != nil {
		return err
	}
	var key *pcrsig.Key
	if len(r.AuthKey) > 0 {
		if key, err = pcrsig.KeyFromDER(r.AuthKey); err != nil {
			return fmt.Errorf("authkey: %w", err)
		}
	}
	if r.Signatures != nil && len(r.Signatures.Policies) > 0 {
		if key == nil {
			return fmt.Errorf("pcrsig without an authkey")
		}
		// The signatures themselves were checked when pcrsig was
		// written, and the TPM checks them again at every unseal; here
		// only that they claim the authkey.
		for i, p := range r.Signatures.Policies {
			if !bytes.Equal(p.KeyFP, key.Fingerprint()) {
				return fmt.Errorf("pcrsig: policy %d is by another key than the authkey", i)
			}
		}
	}
	for _, t := range []struct {
		field string
		v     time.Time
	}{{"created", r.Created}, {"modified", r.Modified}} {
		// RFC 3339 has four-digit years only.
		if y := t.v.UTC().Year(); y < 0 || y > 9999 {
			return fmt.Errorf("%s: year %d outside 0000–9999", t.field, y)
		}
	}
	if r.Sealed != nil {
		if err := validSealed(r.Sealed, spec, r.AuthKey); err != nil {
			return fmt.Errorf("sealed: %w", err)
		}
	}
	switch {
	case IsAKName(r.Name) && r.AK == nil:
		return fmt.Errorf("attestation key %q without \"ak\"", r.Name)
	case !IsAKName(r.Name) && r.AK != nil:
		return fmt.Errorf("sealed object %q with \"ak\"", r.Name)
	case r.AK != nil && (r.Sealed != nil || r.Selection != "" || r.AuthKey != nil || r.Signatures != nil):
		return fmt.Errorf("attestation key %q with pcrs, authkey, pcrsig or sealed data", r.Name)
	case r.AK != nil:
		if err := r.AK.Validate(); err != nil {
			return fmt.Errorf("ak: %w", err)
		}
	}
	return nil
}

// validSelection checks the length and the alphabet, then parses the
// spec: a newline or a megabyte of junk never belongs here, and Sealed
// is checked against it.
func validSelection(s string) (pcrsel.Spec, error) {
	if len(s) > MaxSelectionLen {
		return pcrsel.Spec{}, fmt.Errorf("pcrs: %d bytes, at most %d", len(s), MaxSelectionLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == ':' || c == ',' || c == '+' || c == '='
		if !ok {
			return pcrsel.Spec{}, fmt.Errorf("pcrs: %q has character %q", s, c)
		}
	}
	spec, err := pcrsel.ParseSpec(s)
	if err != nil {
		return pcrsel.Spec{}, fmt.Errorf("pcrs: %w", err)
	}
	return spec, nil
}

func validSealed(o *sealing.Object, spec pcrsel.Spec, authKey []byte) error {
	if selection := spec.Selection().String(); o.Selection != selection {
		return fmt.Errorf("pcrs %q differ from the object's %q", o.Selection, selection)
	}
	for _, g := range spec.Values() {
		found := false
		for _, v := range o.PCRValues {
			if v.Bank == g.Bank.Name && v.Index == g.Index {
				found = bytes.Equal(v.Digest, g.Digest)
			}
		}
		if !found {
			return fmt.Errorf("pcrs gives %s a value the object is not sealed to", g.PCR)
		}
	}
	if !bytes.Equal(o.AuthKey, authKey) {
		return fmt.Errorf("authkey differs from the one the object is sealed with")
	}
	if len(o.Parent) > maxParent {
		return fmt.Errorf("parent: %d bytes, at most %d", len(o.Parent), maxParent)
	}
	type part struct {
		field string
		v     []byte
	}
	required := []part{{"private", o.Private}, {"nonce", o.Nonce}, {"ciphertext", o.Ciphertext}}
	switch o.Family {
	case "":
		// TPM 2.0: the sealed key is a public and a private area.
		required = append(required, part{"public", o.Public})
	case sealing.Family12:
		// TPM 1.2: the sealed key is one TPM_STORED_DATA12, in private.
	default:
		return fmt.Errorf("family %q: want \"\" (TPM 2.0) or %q", o.Family, sealing.Family12)
	}
	for _, f := range required {
		if len(f.v) == 0 {
			return fmt.Errorf("%s missing", f.field)
		}
	}
	for _, v := range o.PCRValues {
		// The bank's digest length; a wrong one means a damaged file.
		bank, ok := pcrsel.BankByName(v.Bank)
		if !ok || bank.Name != v.Bank {
			return fmt.Errorf("pcr_values: unknown bank %q", v.Bank)
		}
		size := bank.Size
		if v.Index < 0 || v.Index > MaxPCRIndex {
			return fmt.Errorf("pcr_values: %s index %d outside 0–%d", v.Bank, v.Index, MaxPCRIndex)
		}
		if len(v.Digest) != size {
			return fmt.Errorf("pcr_values: %s:%d digest is %d bytes, want %d", v.Bank, v.Index, len(v.Digest), size)
		}
	}
	return nil
}
