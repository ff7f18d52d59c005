package sealing

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsig"
)

// Keeper keeps what sealing needs from one operation to the next, so
// that on a real TPM an unseal costs a Load and an Unseal rather than a
// CreatePrimary (180 ms on a discrete TPM) and a salted session (85 ms):
//
//   - the storage root key new objects are sealed under: the persistent
//     key at PersistentSRK if its public area is the ECC P-256 SRK
//     template's, else the template primary of the owner hierarchy,
//     created once and kept (never made persistent);
//   - one HMAC session salted to it, which encrypts the envelope key on
//     its way into and out of the TPM, continued from one command to the
//     next.
//
// Objects record their parent's name: an object opens under whichever of
// the two keys has that name (the persistent key may be the template
// primary itself), and an object sealed before parents were recorded
// under the persistent key if it loads there, else the template primary.
//
// Where the keys stay between operations is the transport's business:
// tpmcore runs a Keeper through a resource manager space, which keeps
// them loaded while the TPM has room and swaps them out otherwise. When
// the TPM says something kept is gone (a reset, TPM2_Clear, a flush by
// someone else) the operation repairs the Keeper and runs once more, so
// no error reaches the caller; Forget drops everything when the caller
// knows that already.
//
// A Keeper is not safe for concurrent use: the caller gives each call
// exclusive use of the TPM, and of the Keeper.
type Keeper struct {
	ownerAuth []byte
	probed    bool // PersistentSRK was examined
	// persistent is the key at PersistentSRK, if it is of the template.
	persistent *srk
	// created is the template primary, made when needed and kept.
	created *srk
	sess    *keptSession
}

// NewKeeper returns a Keeper that makes the template primary with the
// owner hierarchy's auth value ownerAuth (empty: the well-known one).
func NewKeeper(ownerAuth []byte) *Keeper { return &Keeper{ownerAuth: ownerAuth} }

// sealer returns the key new objects go under, probing PersistentSRK and
// creating the template primary as needed.
func (k *Keeper) sealer(tpm transport.TPM) (*srk, error) {
	if !k.probed {
		p, err := readPersistentSRK(tpm)
		if err != nil {
			return nil, err
		}
		k.persistent, k.probed = p, true
	}
	if k.persistent != nil {
		return k.persistent, nil
	}
	return k.templatePrimary(tpm)
}

func (k *Keeper) templatePrimary(tpm transport.TPM) (*srk, error) {
	if k.created == nil {
		s, err := createSRK(tpm, k.ownerAuth)
		if err != nil {
			return nil, err
		}
		k.created = s
	}
	return k.created, nil
}

// session returns the kept session, starting it if needed.
func (k *Keeper) session(tpm transport.TPM) (*keptSession, error) {
	if k.sess != nil && k.sess.handle != 0 {
		return k.sess, nil
	}
	s, err := k.sealer(tpm)
	if err != nil {
		return nil, err
	}
	if k.sess, err = startSession(tpm, s); err != nil {
		return nil, err
	}
	return k.sess, nil
}

// Ready makes sure a seal can get its parent now: the storage root key is
// kept, or can be made with the owner auth (ErrOwnerAuth otherwise). With
// a key kept it sends nothing.
func (k *Keeper) Ready(tpm transport.TPM) error {
	return k.repairing(tpm, func() error {
		_, err := k.sealer(tpm)
		return err
	})
}

// WithSRK runs fn with the storage root key new objects are sealed under
// and the kept session (see Parent), for other keys tpmfs keeps under it
// (attestation keys). If fn fails because something kept is gone, the
// Keeper repairs itself and runs fn once more.
func (k *Keeper) WithSRK(tpm transport.TPM, fn func(p Parent) error) error {
	return k.repairing(tpm, func() error {
		s, err := k.sealer(tpm)
		if err != nil {
			return err
		}
		sess, err := k.session(tpm)
		if err != nil {
			return err
		}
		return fn(Parent{s: s, sess: sess})
	})
}

// Forget drops everything the Keeper knows without a command: the caller
// knows the TPM was reset or its hierarchies changed, and that what was
// loaded is gone (or gone from the caller's transport).
func (k *Keeper) Forget() {
	k.probed, k.persistent, k.created, k.sess = false, nil, nil, nil
}

// Reprobe makes the Keeper examine PersistentSRK again before its next
// use, without a command: a hierarchy changed (EvictControl, TPM2_Clear).
// What it made itself it checks when it next fails.
func (k *Keeper) Reprobe() { k.probed, k.persistent = false, nil }

// Close flushes what the Keeper made: the session and the template
// primary. It keeps nothing afterwards, and may be used again.
func (k *Keeper) Close(tpm transport.TPM) error {
	var errs []error
	if k.sess != nil && k.sess.handle != 0 {
		errs = append(errs, flush(tpm, k.sess.handle))
	}
	if k.created != nil {
		errs = append(errs, flush(tpm, k.created.handle))
	}
	k.Forget()
	return errors.Join(errs...)
}

// Seal encrypts secret for the object name and seals the key to this TPM,
// bound as b says (to nothing but this TPM when b is empty), under the
// kept storage root key.
func (k *Keeper) Seal(tpm transport.TPM, name string, b Binding, secret []byte) (*Object, error) {
	if len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("seal %q: %w: %d bytes, at most %d", name, ErrTooLarge, len(secret), MaxSecretSize)
	}
	var obj *Object
	err := k.repairing(tpm, func() error {
		s, err := k.sealer(tpm)
		if err != nil {
			return err
		}
		sess, err := k.session(tpm)
		if err != nil {
			return err
		}
		obj, err = sealUnder(tpm, s, sess.use(intoTPM), name, b, secret)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("seal %q: %w", name, err)
	}
	return obj, nil
}

// Unseal returns the secret of obj, sealed for the object name, if this
// TPM sealed it and its PCRs hold the sealed-to values (and, for an
// object with an AuthKey, the values of one of the signed policies
// sigs). A policy failure is ErrPolicy with a *PolicyError listing the
// PCRs that moved; an object of another TPM (or of a storage root key
// this TPM no longer has) is ErrWrongTPM; an altered or renamed one is
// ErrCorrupt.
func (k *Keeper) Unseal(tpm transport.TPM, name string, obj *Object, sigs *pcrsig.Set) ([]byte, error) {
	d, err := decode(obj)
	if err != nil {
		return nil, fmt.Errorf("unseal %q: %w", name, err)
	}
	var secret []byte
	err = k.repairing(tpm, func() (err error) {
		secret, err = k.open(tpm, name, obj, d, sigs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unseal %q: %w", name, err)
	}
	return secret, nil
}

// Reseal opens obj (its policy must hold, with sigs if it takes signed
// policies) and seals its secret anew as b says, with a fresh key, under
// the kept storage root key. On error obj stays valid and nothing
// changes.
func (k *Keeper) Reseal(tpm transport.TPM, name string, obj *Object, sigs *pcrsig.Set, b Binding) (*Object, error) {
	d, err := decode(obj)
	if err != nil {
		return nil, fmt.Errorf("reseal %q: %w", name, err)
	}
	var out *Object
	err = k.repairing(tpm, func() error {
		secret, err := k.open(tpm, name, obj, d, sigs)
		if err != nil {
			return err
		}
		defer wipe(secret)
		s, err := k.sealer(tpm)
		if err != nil {
			return err
		}
		out, err = sealUnder(tpm, s, k.sess.use(intoTPM), name, b, secret)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reseal %q: %w", name, err)
	}
	return out, nil
}

// open unseals obj under the parent it records (see parents).
func (k *Keeper) open(tpm transport.TPM, name string, obj *Object, d *decoded, sigs *pcrsig.Set) ([]byte, error) {
	sess, err := k.session(tpm)
	if err != nil {
		return nil, err
	}
	tried := 0
	for _, next := range k.parents(obj) {
		s, err := next(tpm)
		if err != nil || s == nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		tried++
		secret, err := open(tpm, s, sess, name, obj, d, sigs)
		if len(obj.Parent) == 0 && errors.Is(err, ErrWrongTPM) {
			continue // sealed before parents were recorded: try the next
		}
		return secret, err
	}
	if tried == 0 {
		return nil, fmt.Errorf("%w: sealed under a storage root key this TPM does not have (name %x)", ErrWrongTPM, obj.Parent)
	}
	return nil, fmt.Errorf("%w: it loads under no storage root key of this TPM", ErrWrongTPM)
}

// parents lists where obj may open, in the order to try: the key with
// the name it records, whichever handle holds it; for an object that
// records none, the persistent key, then the template primary (it was
// made under the latter, which may be the same key as the former). A nil
// key is no candidate.
func (k *Keeper) parents(obj *Object) []func(transport.TPM) (*srk, error) {
	persistent := func(tpm transport.TPM) (*srk, error) {
		if _, err := k.sealer(tpm); err != nil && k.persistent == nil {
			return nil, err
		}
		if len(obj.Parent) > 0 && (k.persistent == nil || !bytes.Equal(k.persistent.name.Buffer, obj.Parent)) {
			return nil, nil
		}
		return k.persistent, nil
	}
	primary := func(tpm transport.TPM) (*srk, error) {
		s, err := k.templatePrimary(tpm)
		if err != nil || len(obj.Parent) > 0 && !bytes.Equal(s.name.Buffer, obj.Parent) {
			return nil, err
		}
		return s, nil
	}
	return []func(transport.TPM) (*srk, error){persistent, primary}
}

// repairing runs op, and if it failed because something the Keeper kept
// is gone or out of step with the TPM, repairs the Keeper and runs op
// once more.
func (k *Keeper) repairing(tpm transport.TPM, op func() error) error {
	err := op()
	if err == nil || !lostState(err) {
		return err
	}
	k.repair(tpm, !errors.Is(err, ErrWrongTPM))
	return op()
}

// repair drops whatever key no longer reads back as itself, examines
// PersistentSRK again and, with session, drops the session too
// (flushing it, in case only its nonces went out of step).
func (k *Keeper) repair(tpm transport.TPM, session bool) {
	if session && k.sess != nil && k.sess.handle != 0 {
		_ = flush(tpm, k.sess.handle)
	}
	if session {
		k.sess = nil
	}
	if k.created != nil && !stillThere(tpm, k.created) {
		k.created = nil
	}
	k.probed, k.persistent = false, nil
}

// stillThere reads s back by its handle and compares its name.
func stillThere(tpm transport.TPM, s *srk) bool {
	rsp, err := tpm2.ReadPublic{ObjectHandle: s.handle}.Execute(tpm)
	if err == nil && bytes.Equal(rsp.Name.Buffer, s.name.Buffer) {
		return true
	}
	if err == nil || isTPMError(err) {
		_ = flush(tpm, s.handle) // another object under its handle: not ours to keep
	}
	return false
}

// lostState reports whether err says a kept key or session is gone or
// out of step: a handle or session not loaded (also as a resource
// manager's error), an authorization that no longer checks, a parent
// that does not match the object.
func lostState(err error) bool {
	if errors.Is(err, errSessionEnded) || errors.Is(err, errResponseHMAC) || errors.Is(err, ErrWrongTPM) {
		return true
	}
	var rc tpm2.TPMRC
	if !errors.As(err, &rc) {
		return false
	}
	rc &= 0xFFFF // a resource manager's layer
	switch {
	case rc >= tpm2.TPMRCReferenceH0 && rc <= tpm2.TPMRCReferenceH6,
		rc >= tpm2.TPMRCReferenceS0 && rc <= tpm2.TPMRCReferenceS6:
		return true
	case rc&0x80 == 0:
		return false // format 0: not about a handle, session or parameter
	}
	base := rc & 0xBF // format 1: drop the handle, session or parameter number
	return base == tpm2.TPMRCHandle || base == tpm2.TPMRCAuthFail || base == tpm2.TPMRCBadAuth ||
		base == tpm2.TPMRCIntegrity || base == tpm2.TPMRCValue && rc&0x840 == 0x800
}
