package sealing

import (
	"errors"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsig"
)

// The one-shot operations keep nothing: each makes what it needs (the
// cold path of a Keeper) and flushes it before it returns, leaving no
// transient object or session behind. ownerAuth authorizes the owner
// hierarchy (empty: the well-known empty auth).

// Seal is Keeper.Seal on a Keeper of its own.
func Seal(tpm transport.TPM, ownerAuth []byte, name string, b Binding, secret []byte) (*Object, error) {
	k := NewKeeper(ownerAuth)
	obj, err := k.Seal(tpm, name, b, secret)
	return obj, closeKeeper(k, tpm, err)
}

// Unseal is Keeper.Unseal on a Keeper of its own.
func Unseal(tpm transport.TPM, ownerAuth []byte, name string, obj *Object, sigs *pcrsig.Set) ([]byte, error) {
	k := NewKeeper(ownerAuth)
	secret, err := k.Unseal(tpm, name, obj, sigs)
	if err = closeKeeper(k, tpm, err); err != nil {
		wipe(secret)
		return nil, err
	}
	return secret, nil
}

// Reseal is Keeper.Reseal on a Keeper of its own.
func Reseal(tpm transport.TPM, ownerAuth []byte, name string, obj *Object, sigs *pcrsig.Set, b Binding) (*Object, error) {
	k := NewKeeper(ownerAuth)
	out, err := k.Reseal(tpm, name, obj, sigs, b)
	return out, closeKeeper(k, tpm, err)
}

// Inspect is Keeper.Inspect on a Keeper of its own.
func Inspect(tpm transport.TPM, ownerAuth []byte, b Binding, obj *Object, sigs *pcrsig.Set) (*Report, error) {
	k := NewKeeper(ownerAuth)
	r, err := k.Inspect(tpm, b, obj, sigs)
	return r, closeKeeper(k, tpm, err)
}

// CheckSRK tells whether Seal can get its parent now (ErrOwnerAuth for a
// wrong owner secret), keeping nothing.
func CheckSRK(tpm transport.TPM, ownerAuth []byte) error {
	k := NewKeeper(ownerAuth)
	return closeKeeper(k, tpm, k.Ready(tpm))
}

func closeKeeper(k *Keeper, tpm transport.TPM, err error) error {
	return errors.Join(err, k.Close(tpm))
}
