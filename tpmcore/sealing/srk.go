package sealing

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// PersistentSRK is where the TCG provisioning guidance (and systemd) keep
// the storage root key.
const PersistentSRK tpm2.TPMHandle = 0x81000001

// srk is a storage root key the TPM holds: the parent of sealed objects.
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	pub    tpm2.TPMTPublic
}

// createSRK creates the TCG template ECC P-256 SRK under the owner
// hierarchy. The same seed and template always give the same key, so
// objects sealed earlier load under it.
func createSRK(tpm transport.TPM, ownerAuth []byte) (*srk, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(ownerAuth)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tpm)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail) {
			return nil, fmt.Errorf("create SRK: %w: %w", ErrOwnerAuth, err)
		}
		return nil, fmt.Errorf("create SRK: %w", err)
	}
	s := &srk{handle: rsp.ObjectHandle, name: rsp.Name}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create SRK: public area: %w", err), flush(tpm, s.handle))
	}
	s.pub = *pub
	return s, nil
}

// readPersistentSRK returns the key at PersistentSRK if there is one and
// its public area is the ECC P-256 SRK template's (its unique point
// aside); nil if there is none or it is another kind of key.
func readPersistentSRK(tpm transport.TPM) (*srk, error) {
	rsp, err := tpm2.ReadPublic{ObjectHandle: PersistentSRK}.Execute(tpm)
	if err != nil {
		if isTPMError(err) {
			return nil, nil // no such key (TPM_RC_HANDLE), or unreadable
		}
		return nil, fmt.Errorf("read persistent SRK: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil || !isSRKTemplate(pub) {
		return nil, nil
	}
	return &srk{handle: PersistentSRK, name: rsp.Name, pub: *pub}, nil
}

// isSRKTemplate compares p with tpm2.ECCSRKTemplate, all but the unique
// point: a key of that template is a storage key whose auth value tpmfs
// may assume empty, restricted, not duplicable, noDA.
func isSRKTemplate(p *tpm2.TPMTPublic) bool {
	want := tpm2.ECCSRKTemplate
	if p.Type != want.Type || p.NameAlg != want.NameAlg || p.ObjectAttributes != want.ObjectAttributes ||
		len(p.AuthPolicy.Buffer) != 0 {
		return false
	}
	got, err := p.Parameters.ECCDetail()
	if err != nil {
		return false
	}
	w, _ := want.Parameters.ECCDetail()
	null := func(a tpm2.TPMAlgID) bool { return a == 0 || a == tpm2.TPMAlgNull }
	gotBits, err1 := got.Symmetric.KeyBits.AES()
	gotMode, err2 := got.Symmetric.Mode.AES()
	wantBits, _ := w.Symmetric.KeyBits.AES()
	wantMode, _ := w.Symmetric.Mode.AES()
	return err1 == nil && err2 == nil && got.Symmetric.Algorithm == w.Symmetric.Algorithm &&
		*gotBits == *wantBits && *gotMode == *wantMode && got.CurveID == w.CurveID &&
		null(tpm2.TPMAlgID(got.Scheme.Scheme)) && null(tpm2.TPMAlgID(got.KDF.Scheme))
}

// isTPMError: err is the TPM's answer, not a failed exchange.
func isTPMError(err error) bool {
	var rc tpm2.TPMRC
	return errors.As(err, &rc)
}

// flush removes a transient object or session from the TPM.
func flush(tpm transport.TPM, h tpm2.TPMHandle) error {
	if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(tpm); err != nil {
		return fmt.Errorf("flush 0x%08x: %w", uint32(h), err)
	}
	return nil
}

// Parent is the storage root key as other objects kept under it
// (attestation keys) see it. WithSRK is their one way to the SRK, so
// that how tpmfs comes by its SRK is decided in this package alone.
type Parent struct {
	s    *srk
	sess *keptSession
}

// Handle is the SRK as the parent of a Create or Load, authorised by
// its empty auth value.
func (p Parent) Handle() tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: p.s.handle, Name: p.s.name, Auth: tpm2.PasswordAuth(nil)}
}

// EncryptOut returns the session salted to the SRK, for one command: it
// authorises an object with an empty auth value and encrypts the first
// response parameter, so a secret leaving the TPM is never on the bus in
// the clear.
func (p Parent) EncryptOut() tpm2.Session { return p.sess.use(outOfTPM) }

// WithSRK runs fn with the storage root key: a Keeper's, kept, if tpm
// came from Keep; else one made for the call (and its session), which
// leaves nothing behind.
func WithSRK(tpm transport.TPM, ownerAuth []byte, fn func(p Parent) error) error {
	if kt, ok := tpm.(keptTPM); ok {
		return kt.k.WithSRK(kt, fn)
	}
	k := NewKeeper(ownerAuth)
	return closeKeeper(k, tpm, k.WithSRK(tpm, fn))
}

// Keep returns tpm as a transport on which WithSRK uses k's storage root
// key and session, for code that takes a transport and the owner auth
// (package attest): what it does under the SRK then costs no
// CreatePrimary and no salted session.
func Keep(tpm transport.TPM, k *Keeper) transport.TPM { return keptTPM{TPM: tpm, k: k} }

type keptTPM struct {
	transport.TPM
	k *Keeper
}
