package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/attest"
)

// AKTPM is what attestation keys need of the TPM (tpmcore.Core).
type AKTPM interface {
	CreateAK(ctx context.Context, typ string) (*tpmcore.AK, error)
	Quote(ctx context.Context, k *tpmcore.AK, sel tpmcore.Selection, nonce []byte) (*tpmcore.Quote, error)
	ActivateCredential(ctx context.Context, k *tpmcore.AK, cred []byte) ([]byte, error)
}

// ErrKeyCreated: the type of an attestation key that exists already.
var ErrKeyCreated = errors.New("attestation key created already: its type is fixed")

// AKs is the attestation keys' service behind ak/: a second namespace of
// the vault's, whose objects have the same identities, inode numbers,
// locks and seal_quota= count as sealed objects, and names of their own
// (sealstore.AKName). A key is created in the TPM on first use, so that
// its type can be chosen after mkdir.
type AKs struct {
	v   *Vault
	tpm AKTPM
}

// AKs returns the attestation keys' service over tpm.
func (v *Vault) AKs(tpm AKTPM) *AKs { return &AKs{v: v, tpm: tpm} }

// AKInfo is what stat shows of an attestation key. Its Ref names the
// record (sealstore.AKName(name)); Type is "" for a damaged one, Public
// nil until the key is created.
type AKInfo struct {
	Info
	Type   string
	Public *attest.AKPublic
}

// Name is the key's name in ak/.
func (i AKInfo) Name() string { return strings.TrimPrefix(i.Ref.Name, sealstore.AKPrefix) }

func (a *AKs) info(rec *sealstore.Record) (AKInfo, error) {
	i := AKInfo{Info: a.v.info(rec), Type: rec.AK.Type}
	if rec.AK.Created() {
		p, err := rec.AK.PublicInfo()
		if err != nil {
			return AKInfo{}, fmt.Errorf("%s: %w: %w", rec.Name, ErrDamaged, err)
		}
		i.Public = p
	}
	return i, nil
}

// fromInfo completes a vault Info of an attestation key.
func (a *AKs) fromInfo(i Info, err error) (AKInfo, error) {
	if err != nil || i.Damaged != nil {
		return AKInfo{Info: i}, err
	}
	rec, err := a.v.loadRef(i.Ref)
	if err != nil {
		return AKInfo{}, err
	}
	return a.info(rec)
}

// List returns the keys' names, sorted.
func (a *AKs) List() ([]string, error) {
	names, err := a.v.scan()
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return !sealstore.IsAKName(n) })
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, sealstore.AKPrefix)
	}
	return names, nil
}

// Lookup finds the key name; a damaged one too, so that it can be
// removed.
func (a *AKs) Lookup(name string) (AKInfo, error) {
	if err := ValidName(name); err != nil {
		return AKInfo{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return a.fromInfo(a.v.lookup(sealstore.AKName(name)))
}

// Stat describes the key ref names: ErrStale if it is gone.
func (a *AKs) Stat(ref Ref) (AKInfo, error) { return a.fromInfo(a.v.Stat(ref)) }

// Create makes an attestation key record for c, of type ECC until
// SetType says otherwise; the key itself is made on first use.
func (a *AKs) Create(c Caller, name string, mode, gid uint32) (AKInfo, error) {
	if err := ValidName(name); err != nil {
		return AKInfo{}, fmt.Errorf("create: %w", err)
	}
	rec := &sealstore.Record{Name: sealstore.AKName(name), AK: &attest.Key{Type: attest.ECC}}
	return a.fromInfo(a.v.create(c, rec, mode, gid))
}

// Remove deletes the key name; its handles fail from now on.
func (a *AKs) Remove(name string) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("remove: %w: %w", ErrNotFound, err)
	}
	return a.v.remove(sealstore.AKName(name))
}

// SetAttr applies a chmod or chown to ref's key.
func (a *AKs) SetAttr(ref Ref, ch AttrChange) (AKInfo, error) {
	return a.fromInfo(a.v.SetAttr(ref, ch))
}

// SetType chooses the key's type before its first use; afterwards only
// its own type is accepted (ErrKeyCreated).
func (a *AKs) SetType(ref Ref, typ string) error {
	if !attest.ValidType(typ) {
		return fmt.Errorf("%s/type: %w: %q (want %s or %s)", ref.Name, tpmcore.ErrInvalid, typ, attest.ECC, attest.RSA)
	}
	if a.v.opts.ReadOnly {
		return fmt.Errorf("%s/type: %w", ref.Name, ErrReadOnly)
	}
	unlock := a.v.names.lock(ref.Name)
	defer unlock()
	rec, err := a.load(ref)
	if err != nil {
		return err
	}
	switch {
	case rec.AK.Type == typ:
		return nil
	case rec.AK.Created():
		return fmt.Errorf("%s/type: %w (%s)", ref.Name, ErrKeyCreated, rec.AK.Type)
	}
	rec.AK = &attest.Key{Type: typ}
	rec.Modified = time.Now().UTC()
	return a.v.store.Save(rec)
}

// load loads ref's record, which must be an attestation key's.
func (a *AKs) load(ref Ref) (*sealstore.Record, error) {
	if ref.ID == "" {
		return nil, fmt.Errorf("%s: %w: it can only be removed", ref.Name, ErrDamaged)
	}
	rec, err := a.v.loadRef(ref)
	if err != nil {
		return nil, err
	}
	if rec.AK == nil {
		return nil, fmt.Errorf("%s: %w", ref.Name, ErrStale)
	}
	return rec, nil
}

// key returns ref's key, creating it in the TPM on its first use.
func (a *AKs) key(ctx context.Context, ref Ref) (*attest.Key, error) {
	rec, err := a.load(ref)
	if err != nil {
		return nil, err
	}
	if rec.AK.Created() {
		return rec.AK, nil
	}
	unlock := a.v.names.lock(ref.Name)
	defer unlock()
	if rec, err = a.load(ref); err != nil || rec.AK.Created() {
		return recKey(rec), err
	}
	if a.v.opts.ReadOnly {
		return nil, fmt.Errorf("%s: %w: the key is made on first use", ref.Name, ErrReadOnly)
	}
	if err := a.v.store.CheckRoom(sealstore.EncodedSize(0)); err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Name, err)
	}
	k, err := a.tpm.CreateAK(ctx, rec.AK.Type)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Name, err)
	}
	rec.AK = k
	rec.Modified = time.Now().UTC()
	if err := a.v.store.Save(rec); err != nil {
		return nil, err
	}
	return k, nil
}

func recKey(rec *sealstore.Record) *attest.Key {
	if rec == nil {
		return nil
	}
	return rec.AK
}

// Public describes ref's key, creating it on first use.
func (a *AKs) Public(ctx context.Context, ref Ref) (*attest.AKPublic, error) {
	k, err := a.key(ctx, ref)
	if err != nil {
		return nil, err
	}
	p, err := k.PublicInfo()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", ref.Name, ErrDamaged, err)
	}
	return p, nil
}

// Quote quotes sel with nonce under ref's key.
func (a *AKs) Quote(ctx context.Context, ref Ref, sel tpmcore.Selection, nonce []byte) (*tpmcore.Quote, error) {
	k, err := a.key(ctx, ref)
	if err != nil {
		return nil, err
	}
	return a.tpm.Quote(ctx, k, sel, nonce)
}

// Activate releases the secret of a credential made for ref's key.
func (a *AKs) Activate(ctx context.Context, ref Ref, cred []byte) ([]byte, error) {
	k, err := a.key(ctx, ref)
	if err != nil {
		return nil, err
	}
	return a.tpm.ActivateCredential(ctx, k, cred)
}
