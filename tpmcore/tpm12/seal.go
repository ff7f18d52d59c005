package tpm12

import (
	"crypto/sha1"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm"
	"github.com/google/go-tpm/tpm2/transport"
)

// MaxKeySize is the most SealKey seals: TPM_Seal encrypts the data with
// the 2048-bit SRK in one RSA-OAEP block beside 65 bytes of its own.
const MaxKeySize = 128

// WellKnownAuth is the well-known secret (20 zero bytes) that TrouSerS'
// -z options (tpm_takeownership -z, tpm_sealdata -z) use for the SRK.
var WellKnownAuth [sha1.Size]byte

// AuthFromPassword derives a secret from a password as TrouSerS does for
// a plain-text secret (TSS_SECRET_MODE_PLAIN): its SHA-1.
func AuthFromPassword(pw []byte) [sha1.Size]byte { return sha1.Sum(pw) }

// Sealed is a key sealed to this TPM's SRK by SealKey.
type Sealed struct {
	// Blob is the TPM_STORED_DATA12 TPM_Seal returned; UnsealKey takes it.
	Blob []byte
	// Values are the PCR values Blob is bound to, ascending by index
	// (empty: bound to no PCRs).
	Values []PCRValue
	// Digest is their PCR composite digest, Blob's digestAtRelease.
	Digest [DigestSize]byte
}

// SealInfo is what a sealed blob says about its binding.
type SealInfo struct {
	// PCRs are the PCRs it is released under, ascending.
	PCRs []int
	// Digest is the PCR composite digest they must have (digestAtRelease).
	Digest [DigestSize]byte
	// LocalityAtRelease is the TPM_LOCALITY_SELECTION bit mask.
	LocalityAtRelease uint8
}

// SealedTo reads a blob's binding without the TPM; a blob that is not a
// TPM_STORED_DATA12 is ErrCorrupt.
func SealedTo(blob []byte) (SealInfo, error) { return parseSealed(blob) }

// SealKey seals key (at most MaxKeySize bytes) under the SRK, bound to the
// current values of pcrs (any order; none: bound to this TPM only). See
// SealKeyTo.
func SealKey(t transport.TPM, srkAuth [sha1.Size]byte, pcrs []int, key []byte) (*Sealed, error) {
	sel := slices.Clone(pcrs)
	slices.Sort(sel)
	sel = slices.Compact(sel)
	vals := make([]PCRValue, 0, len(sel))
	for _, i := range sel {
		v, err := ReadPCR(t, i)
		if err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		vals = append(vals, PCRValue{Index: i, Value: v})
	}
	return SealKeyTo(t, srkAuth, vals, key)
}

// SealKeyTo seals key (at most MaxKeySize bytes) under the SRK, released
// only while the PCRs of vals (any order, each index once; none: bound to
// this TPM only) have those values, whatever values they have now: the
// blob's digestAtRelease is their PCR composite digest. It uses TPM_Seal
// in an OSAP session authorized by srkAuth; the blob's own secret, needed
// again by UnsealKey, is srkAuth too.
func SealKeyTo(t transport.TPM, srkAuth [sha1.Size]byte, vals []PCRValue, key []byte) (*Sealed, error) {
	if len(key) == 0 || len(key) > MaxKeySize {
		return nil, fmt.Errorf("seal key: %w: %d bytes, want 1-%d", ErrInvalid, len(key), MaxKeySize)
	}
	want, err := PCRComposite(vals)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	sorted := slices.Clone(vals)
	slices.SortFunc(sorted, func(a, b PCRValue) int { return a.Index - b.Index })
	var mask [MaxPCRs / 8]byte
	var idx []int
	for _, v := range sorted {
		mask[v.Index/8] |= 1 << (v.Index % 8)
		idx = append(idx, v.Index)
	}
	c := newConn(t)
	blob, err := sealTo(t, c, srkAuth, mask, want, key)
	if err != nil {
		return nil, refusal(t, c, "seal key", err)
	}
	si, err := parseSealed(blob)
	if err != nil {
		return nil, fmt.Errorf("seal key: TPM_Seal answer: %w", err)
	}
	if !slices.Equal(si.PCRs, idx) || si.Digest != want {
		return nil, fmt.Errorf("seal key: blob bound to PCRs %v digest %x, want %v digest %x", si.PCRs, si.Digest, idx, want)
	}
	return &Sealed{Blob: blob, Values: sorted, Digest: want}, nil
}

// UnsealKey unseals a blob made by SealKey (TPM_Unseal under the SRK, in
// an OSAP and an OIAP session). PCRs not holding the sealed-to values give
// ErrPolicy; a wrong srkAuth ErrAuth; a TPM without owner ErrNotOwned; a
// blob of another TPM or SRK ErrWrongTPM; a malformed one ErrCorrupt.
func UnsealKey(t transport.TPM, srkAuth [sha1.Size]byte, blob []byte) ([]byte, error) {
	if _, err := parseSealed(blob); err != nil {
		return nil, fmt.Errorf("unseal key: %w", err)
	}
	c := newConn(t)
	key, err := tpm.Unseal(c, blob, srkAuth[:])
	if err != nil {
		return nil, refusal(t, c, "unseal key", err)
	}
	return key, nil
}

// refusal classifies a failed Seal or Unseal. TPMs refuse an SRK that
// does not exist in several ways (TPM_NOSRK, TPM_INVALID_KEYHANDLE, ...),
// so for any refusal other than a PCR mismatch it asks whether the TPM
// has an owner at all: that is the one thing an admin must hear about.
func refusal(t transport.TPM, c *conn, op string, err error) error {
	if c.first != 0 && c.first != rcWrongPCRVal {
		if owned, oerr := Owned(t); oerr == nil && !owned {
			return fmt.Errorf("%s: %w: %w", op, ErrNotOwned, c.first)
		}
	}
	return c.fail(op, err)
}
