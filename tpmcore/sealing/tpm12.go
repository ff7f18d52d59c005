package sealing

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/tpm12"
)

// Family12 is Object.Family of an object sealed by a TPM 1.2.
const Family12 = "1.2"

// Seal12 is Seal on a TPM 1.2: the same envelope, its key sealed with
// TPM_Seal under the SRK (secret srkAuth) to the values b gives or the
// current ones of its PCRs, all of which must be in the sha1 bank (the
// blob's digestAtRelease is their composite). A TPM 1.2 knows no signed
// policies: a binding with an AuthKey is ErrUnsupported.
func Seal12(tpm transport.TPM, srkAuth [sha1.Size]byte, name string, b Binding, secret []byte) (*Object, error) {
	obj, err := seal12(tpm, srkAuth, name, b, secret)
	if err != nil {
		return nil, fmt.Errorf("seal %q: %w", name, err)
	}
	return obj, nil
}

// Unseal12 is Unseal on a TPM 1.2. PCRs that moved give ErrPolicy with a
// *PolicyError; an object of another TPM (or of an SRK since replaced,
// or of a TPM 2.0) ErrWrongTPM; an altered or renamed one ErrCorrupt.
func Unseal12(tpm transport.TPM, srkAuth [sha1.Size]byte, name string, obj *Object) ([]byte, error) {
	if err := check12(obj); err != nil {
		return nil, fmt.Errorf("unseal %q: %w", name, err)
	}
	secret, err := open12(tpm, srkAuth, name, obj)
	if err != nil {
		return nil, fmt.Errorf("unseal %q: %w", name, err)
	}
	return secret, nil
}

// Reseal12 is Reseal on a TPM 1.2: obj's policy must hold; on error obj
// stays valid.
func Reseal12(tpm transport.TPM, srkAuth [sha1.Size]byte, name string, obj *Object, b Binding) (*Object, error) {
	if err := check12(obj); err != nil {
		return nil, fmt.Errorf("reseal %q: %w", name, err)
	}
	secret, err := open12(tpm, srkAuth, name, obj)
	if err != nil {
		return nil, fmt.Errorf("reseal %q: %w", name, err)
	}
	defer wipe(secret)
	out, err := seal12(tpm, srkAuth, name, b, secret)
	if err != nil {
		return nil, fmt.Errorf("reseal %q: %w", name, err)
	}
	return out, nil
}

func seal12(tpm transport.TPM, srkAuth [sha1.Size]byte, name string, b Binding, secret []byte) (*Object, error) {
	if len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(secret), MaxSecretSize)
	}
	if b.AuthKey != nil {
		return nil, fmt.Errorf("%w: signed PCR policies (authkey) need a TPM 2.0", ErrUnsupported)
	}
	sel := b.PCRs.Selection()
	if _, err := indices12(sel); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPCRUnavailable, err)
	}
	values, err := b.sealedValues(func(sel pcrsel.Selection) ([]PCRValue, error) {
		var out []PCRValue
		for _, i := range sel.Indices(pcrsel.SHA1) {
			v, err := tpm12.ReadPCR(tpm, i)
			if err != nil {
				return nil, err
			}
			out = append(out, PCRValue{Bank: pcrsel.SHA1.Name, Index: i, Digest: bytes.Clone(v[:])})
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	vals := make([]tpm12.PCRValue, len(values))
	for i, v := range values {
		vals[i] = tpm12.PCRValue{Index: v.Index}
		copy(vals[i].Value[:], v.Digest)
	}
	key, nonce, ciphertext, err := encrypt(name, secret)
	if err != nil {
		return nil, err
	}
	defer wipe(key)
	s, err := tpm12.SealKeyTo(tpm, srkAuth, vals, key)
	if err != nil {
		return nil, err
	}
	obj := &Object{Family: Family12, Selection: sel.String(), Private: s.Blob, Nonce: nonce, Ciphertext: ciphertext}
	if !sel.IsEmpty() {
		obj.Policy = bytes.Clone(s.Digest[:])
		obj.PCRValues = values
	}
	return obj, nil
}

// indices12 returns sel's PCR indices, all of which must be sha1's: a
// TPM 1.2 has no other bank.
func indices12(sel pcrsel.Selection) ([]int, error) {
	var idx []int
	for _, p := range sel.PCRs() {
		if p.Bank != pcrsel.SHA1 {
			return nil, fmt.Errorf("a TPM 1.2 has only the sha1 bank, not %s", p.Bank.Name)
		}
		idx = append(idx, p.Index)
	}
	return idx, nil
}

// check12 verifies, without the TPM, that obj is a TPM 1.2 object whose
// parts agree: the blob is bound to the selected PCRs, and the sealed-to
// values digest to both Policy and the blob's digestAtRelease. Anything
// else is ErrCorrupt, so that an altered file never passes as a policy
// failure.
func check12(obj *Object) error {
	if obj == nil {
		return fmt.Errorf("%w: no object", ErrCorrupt)
	}
	if obj.Family != Family12 {
		return fmt.Errorf("%w: sealed by a TPM 2.0, this is a TPM 1.2", ErrWrongTPM)
	}
	if len(obj.Public) != 0 || len(obj.AuthKey) != 0 {
		return fmt.Errorf("%w: a TPM 1.2 object has no public area or authkey", ErrCorrupt)
	}
	sel, err := pcrsel.Parse(obj.Selection)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	pcrs, err := indices12(sel)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	info, err := tpm12.SealedTo(obj.Private)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if !slices.Equal(info.PCRs, pcrs) {
		return fmt.Errorf("%w: blob bound to PCRs %v, selection %q", ErrCorrupt, info.PCRs, obj.Selection)
	}
	if len(pcrs) == 0 {
		if len(obj.Policy) != 0 || len(obj.PCRValues) != 0 {
			return fmt.Errorf("%w: policy or PCR values without a selection", ErrCorrupt)
		}
		return nil
	}
	if len(obj.PCRValues) != len(pcrs) {
		return fmt.Errorf("%w: %d PCR values for %d PCRs", ErrCorrupt, len(obj.PCRValues), len(pcrs))
	}
	vals := make([]tpm12.PCRValue, len(pcrs))
	for i, v := range obj.PCRValues {
		if v.Bank != pcrsel.SHA1.Name || v.Index != pcrs[i] || len(v.Digest) != tpm12.DigestSize {
			return fmt.Errorf("%w: PCR value %d is %s with %d bytes, want sha1:%d", ErrCorrupt, i, v, len(v.Digest), pcrs[i])
		}
		vals[i] = tpm12.PCRValue{Index: v.Index}
		copy(vals[i].Value[:], v.Digest)
	}
	digest, err := tpm12.PCRComposite(vals)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if !bytes.Equal(obj.Policy, digest[:]) || info.Digest != digest {
		return fmt.Errorf("%w: PCR composite digest does not match PCR values", ErrCorrupt)
	}
	return nil
}

// open12 unseals obj's key and decrypts its secret.
func open12(tpm transport.TPM, srkAuth [sha1.Size]byte, name string, obj *Object) ([]byte, error) {
	key, err := tpm12.UnsealKey(tpm, srkAuth, obj.Private)
	defer wipe(key)
	switch {
	case err == nil:
		return decrypt(key, name, obj)
	case errors.Is(err, tpm12.ErrPolicy):
		differ, derr := differing12(tpm, obj.PCRValues)
		perr := &PolicyError{Differ: differ}
		if derr != nil {
			return nil, fmt.Errorf("%w (comparing PCRs: %v): %w", perr, derr, err)
		}
		return nil, fmt.Errorf("%w: %w", perr, err)
	case errors.Is(err, tpm12.ErrWrongTPM):
		return nil, fmt.Errorf("%w: %w", ErrWrongTPM, err)
	case errors.Is(err, tpm12.ErrCorrupt):
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil, err
}

// differing12 returns the current values of the sealed-to PCRs that
// differ from them.
func differing12(tpm transport.TPM, sealed []PCRValue) ([]PCRValue, error) {
	var out []PCRValue
	for _, v := range sealed {
		now, err := tpm12.ReadPCR(tpm, v.Index)
		if err != nil {
			return out, err
		}
		if !bytes.Equal(now[:], v.Digest) {
			out = append(out, PCRValue{Bank: v.Bank, Index: v.Index, Digest: bytes.Clone(now[:])})
		}
	}
	return out, nil
}
