package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsig"
)

// TPM is what the vault needs of the TPM (tpmcore.Core).
type TPM interface {
	Info() tpmcore.Info
	ParseSpec(s string) (tpmcore.Spec, error)
	// ParseAuthKey reads a PEM key that signs PCR policies
	// (ErrUnsupported where the TPM has no signed policies).
	ParseAuthKey(pem []byte) (*tpmcore.AuthKey, error)
	// SignedPolicies tells whether the TPM has signed PCR policies.
	SignedPolicies() error
	Seal(ctx context.Context, name string, b tpmcore.Binding, secret []byte) (*tpmcore.Sealed, error)
	Unseal(ctx context.Context, name string, obj *tpmcore.Sealed, sigs *tpmcore.Signatures) ([]byte, error)
	Reseal(ctx context.Context, name string, obj *tpmcore.Sealed, sigs *tpmcore.Signatures, b tpmcore.Binding) (*tpmcore.Sealed, error)
	Inspect(ctx context.Context, name string, b tpmcore.Binding, obj *tpmcore.Sealed, sigs *tpmcore.Signatures) (*tpmcore.SealReport, error)
	// SealReady reports whether a seal can succeed now: the storage
	// hierarchy is usable (TPM 1.2: the TPM has an owner).
	SealReady(ctx context.Context) error
}

// Quota is seal_quota=: what one non-root user may keep.
type Quota struct {
	Objects int
	Bytes   int64 // secrets' bytes; also bounds the data a user holds unsaved in open writers
}

// Options configure a Vault.
type Options struct {
	ReadOnly bool
	// Quota applies to every uid but root; nil: none.
	Quota *Quota
	Log   *logrus.Entry
}

// Vault is the service. Its methods are safe for concurrent use.
type Vault struct {
	store *sealstore.Store
	tpm   TPM
	opts  Options
	log   *logrus.Entry

	names nameLocks // one lock per object name: every change is a whole load-modify-save

	mu      sync.Mutex
	index   map[string]*entry     // by name: what quotas and handles need
	inos    map[string]uint64     // by identity; an identity keeps its number while mounted
	nextIno uint64                //
	plain   map[string]*plaintext // by identity: the version readers share
	pending map[uint32]int64      // by uid: bytes held in open writers
	writers map[*writer]bool      // open writers, for truncations without a handle
	unseals map[string]*unsealLog // by identity: the last unseal and failure, for status
}

// entry is what the vault remembers of an object between loads.
type entry struct {
	id   string // "" when damaged
	uid  uint32
	size int64
}

// firstIno is the first inode number given to an object: above the root
// (1) and below go-fuse's automatic numbers (2^63 and up).
const firstIno = 1 << 32

// New opens the vault over store, scanning it once for quotas.
func New(store *sealstore.Store, tpm TPM, opts Options) (*Vault, error) {
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	v := &Vault{
		store: store, tpm: tpm, opts: opts, log: opts.Log,
		index:   map[string]*entry{},
		inos:    map[string]uint64{},
		nextIno: firstIno,
		plain:   map[string]*plaintext{},
		pending: map[uint32]int64{},
		writers: map[*writer]bool{},
		unseals: map[string]*unsealLog{},
	}
	names, err := v.scan()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		v.load(n) // a damaged object is noted as such; it counts for nobody
	}
	return v, nil
}

// List returns the sealed objects' names, sorted. Entries of the state
// directory that are not tpmfs's own files are skipped and logged.
func (v *Vault) List() ([]string, error) {
	names, err := v.scan()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(names, sealstore.IsAKName), nil
}

// scan lists every record of the store, attestation keys' too, and
// forgets the ones removed behind the vault's back.
func (v *Vault) scan() ([]string, error) {
	names, skipped, err := v.store.Scan()
	if err != nil {
		return nil, err
	}
	for name, why := range skipped {
		v.log.WithField("object", name).WithError(why).Warn("state directory entry skipped: not a file tpmfs wrote")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
	}
	for n := range v.index {
		if !present[n] {
			delete(v.index, n) // removed behind our back
		}
	}
	return names, nil
}

// load reads an object's record and brings the index up to date with it.
func (v *Vault) load(name string) (*sealstore.Record, error) {
	rec, err := v.store.Load(name)
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case err == nil:
		v.index[name] = &entry{id: rec.ID, uid: rec.UID, size: secretSize(rec)}
	case errors.Is(err, sealstore.ErrCorrupt):
		v.index[name] = &entry{}
	default:
		delete(v.index, name)
	}
	return rec, err
}

// loadRef loads the object ref names, if it is still that object.
func (v *Vault) loadRef(ref Ref) (*sealstore.Record, error) {
	rec, err := v.load(ref.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("%s: %w", ref.Name, ErrStale)
	case err != nil:
		return nil, err
	case rec.ID != ref.ID:
		return nil, fmt.Errorf("%s: %w", ref.Name, ErrStale)
	}
	return rec, nil
}

// alive reports whether ref's object is still there, as far as the vault
// knows without reading the disk.
func (v *Vault) alive(ref Ref) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.index[ref.Name]
	return e != nil && e.id == ref.ID
}

// inoLocked returns the inode number of an identity. v.mu held.
func (v *Vault) inoLocked(key string) uint64 {
	ino, ok := v.inos[key]
	if !ok {
		ino = v.nextIno
		v.nextIno++
		v.inos[key] = ino
	}
	return ino
}

// info describes a loaded record.
func (v *Vault) info(rec *sealstore.Record) Info {
	v.mu.Lock()
	ino := v.inoLocked(rec.ID)
	v.mu.Unlock()
	i := Info{
		Ref: Ref{Name: rec.Name, ID: rec.ID}, Ino: ino,
		UID: rec.UID, GID: rec.GID, Mode: rec.Mode,
		Selection: rec.Selection, Size: secretSize(rec), HasData: rec.Sealed != nil,
		Modified: rec.Modified,
	}
	if i.Modified.IsZero() {
		i.Modified = rec.Created
	}
	if rec.Sealed != nil {
		i.Policy = rec.Sealed.Policy
	}
	if len(rec.AuthKey) > 0 {
		// The store checked it is a key when it loaded the record.
		i.AuthKey, _ = pcrsig.KeyFromDER(rec.AuthKey)
	}
	i.Signatures = rec.Signatures
	return i
}

// damaged describes an object whose file cannot be used: root's and
// private, so root (or the owner of a sticky seal/... only root) may
// remove it.
func (v *Vault) damaged(name string, why error) Info {
	v.mu.Lock()
	ino := v.inoLocked("damaged\x00" + name)
	v.mu.Unlock()
	return Info{Ref: Ref{Name: name}, Ino: ino, Mode: 0o700, Damaged: why}
}

// aeadOverhead is what the envelope adds to a secret (the GCM tag).
const aeadOverhead = 16

func secretSize(rec *sealstore.Record) int64 {
	if rec.Sealed == nil || len(rec.Sealed.Ciphertext) < aeadOverhead {
		return 0
	}
	return int64(len(rec.Sealed.Ciphertext) - aeadOverhead)
}

// Lookup finds the object name. A damaged one is found too (Info.Damaged
// says why), so that it can be listed and removed.
func (v *Vault) Lookup(name string) (Info, error) {
	if err := ValidName(name); err != nil {
		return Info{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return v.lookup(name)
}

// lookup is Lookup by store name.
func (v *Vault) lookup(name string) (Info, error) {
	rec, err := v.load(name)
	switch {
	case errors.Is(err, sealstore.ErrCorrupt):
		return v.damaged(name, err), nil
	case err != nil:
		return Info{}, err
	}
	return v.info(rec), nil
}

// Stat describes the object ref names: ErrStale if it is gone.
func (v *Vault) Stat(ref Ref) (Info, error) {
	if ref.ID == "" {
		// A damaged object stays damaged until it is removed, replaced
		// or repaired; then its handles are stale.
		_, err := v.load(ref.Name)
		if errors.Is(err, sealstore.ErrCorrupt) {
			return v.damaged(ref.Name, err), nil
		}
		return Info{}, fmt.Errorf("%s: %w", ref.Name, ErrStale)
	}
	rec, err := v.loadRef(ref)
	if err != nil {
		return Info{}, err
	}
	return v.info(rec), nil
}

// Create makes an empty object for c, owned by c.UID and gid, with the
// given mode.
func (v *Vault) Create(c Caller, name string, mode, gid uint32) (Info, error) {
	if err := ValidName(name); err != nil {
		return Info{}, fmt.Errorf("create: %w", err)
	}
	return v.create(c, &sealstore.Record{Name: name}, mode, gid)
}

// create saves rec, a new record of store name rec.Name, for c.
func (v *Vault) create(c Caller, rec *sealstore.Record, mode, gid uint32) (Info, error) {
	name := rec.Name
	if v.opts.ReadOnly {
		return Info{}, fmt.Errorf("create %s: %w", name, ErrReadOnly)
	}
	unlock := v.names.lock(name)
	defer unlock()
	if v.store.Exists(name) {
		return Info{}, fmt.Errorf("create %s: %w", name, ErrExists)
	}
	if err := v.checkObjects(c); err != nil {
		return Info{}, fmt.Errorf("create %s: %w", name, err)
	}
	if err := v.store.CheckRoom(sealstore.EncodedSize(0)); err != nil {
		return Info{}, fmt.Errorf("create %s: %w", name, err)
	}
	rec.ID, rec.UID, rec.GID, rec.Mode = sealstore.NewID(), c.UID, gid, mode
	if err := v.store.Save(rec); err != nil {
		return Info{}, fmt.Errorf("create %s: %w", name, err)
	}
	v.mu.Lock()
	v.index[name] = &entry{id: rec.ID, uid: rec.UID}
	v.mu.Unlock()
	return v.info(rec), nil
}

// Remove deletes the object name, damaged or not. Its handles fail from
// now on; the kernel has checked the caller's right to remove it.
func (v *Vault) Remove(name string) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("remove: %w: %w", ErrNotFound, err)
	}
	return v.remove(name)
}

// remove is Remove by store name.
func (v *Vault) remove(name string) error {
	if v.opts.ReadOnly {
		return fmt.Errorf("remove %s: %w", name, ErrReadOnly)
	}
	unlock := v.names.lock(name)
	defer unlock()
	if err := v.store.Remove(name); err != nil {
		return err
	}
	v.mu.Lock()
	if e := v.index[name]; e != nil {
		delete(v.unseals, e.id)
	}
	delete(v.index, name)
	v.mu.Unlock()
	return nil
}

// SetAttr applies a chmod or chown to ref's object and saves it.
func (v *Vault) SetAttr(ref Ref, ch AttrChange) (Info, error) {
	if ref.ID == "" {
		return Info{}, fmt.Errorf("%s: %w: it can only be removed", ref.Name, ErrDamaged)
	}
	unlock := v.names.lock(ref.Name)
	defer unlock()
	rec, err := v.loadRef(ref)
	if err != nil {
		return Info{}, err
	}
	if ch.Mode == nil && ch.UID == nil && ch.GID == nil {
		return v.info(rec), nil
	}
	if v.opts.ReadOnly {
		return Info{}, fmt.Errorf("%s: %w", ref.Name, ErrReadOnly)
	}
	if ch.Mode != nil {
		rec.Mode = *ch.Mode & sealstore.MaxMode
	}
	if ch.UID != nil {
		rec.UID = *ch.UID
	}
	if ch.GID != nil {
		rec.GID = *ch.GID
	}
	rec.Modified = time.Now().UTC()
	if err := v.store.Save(rec); err != nil {
		return Info{}, err
	}
	v.mu.Lock()
	v.index[ref.Name] = &entry{id: rec.ID, uid: rec.UID, size: secretSize(rec)}
	v.mu.Unlock()
	return v.info(rec), nil
}

// nameLocks serialises changes to one object (commit, chmod, remove).
type nameLocks struct {
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	sync.Mutex
	users int
}

func (l *nameLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*nameLock{}
	}
	nl := l.locks[name]
	if nl == nil {
		nl = &nameLock{}
		l.locks[name] = nl
	}
	nl.users++
	l.mu.Unlock()
	nl.Lock()
	return func() {
		nl.Unlock()
		l.mu.Lock()
		if nl.users--; nl.users == 0 {
			delete(l.locks, name)
		}
		l.mu.Unlock()
	}
}
