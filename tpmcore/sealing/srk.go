package sealing

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// srk is a loaded storage root key: the parent of every sealed object.
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	pub    tpm2.TPMTPublic
}

// createSRK creates the TCG template ECC P-256 SRK under the owner
// hierarchy. The same seed and template always give the same key, so
// objects sealed earlier load under it; the caller flushes it.
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

// withSRK runs fn with a freshly created SRK and flushes the SRK
// afterwards, whatever fn did.
func withSRK(tpm transport.TPM, ownerAuth []byte, fn func(s *srk) error) error {
	s, err := createSRK(tpm, ownerAuth)
	if err != nil {
		return err
	}
	return errors.Join(fn(s), flush(tpm, s.handle))
}

// session returns a one-use HMAC session salted to the SRK that encrypts
// the first parameter in direction dir, authorizing an object whose auth
// value is empty. go-tpm starts it just in time; the TPM ends it when the
// command succeeds, go-tpm flushes it when the command fails.
func (s *srk) session(dir tpm2.AuthOption) tpm2.Session {
	return tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Auth(nil), tpm2.Salted(s.handle, s.pub), dir)
}

// flush removes a transient object or session from the TPM.
func flush(tpm transport.TPM, h tpm2.TPMHandle) error {
	if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(tpm); err != nil {
		return fmt.Errorf("flush 0x%08x: %w", uint32(h), err)
	}
	return nil
}

// Parameter encryption of the key: into the TPM for Create, out of it for
// Unseal.
var (
	encryptIn  = tpm2.AESEncryption(128, tpm2.EncryptIn)
	encryptOut = tpm2.AESEncryption(128, tpm2.EncryptOut)
)

// CheckSRK creates the SRK and flushes it: whether Seal can get its
// parent now (ErrOwnerAuth for a wrong owner secret).
func CheckSRK(tpm transport.TPM, ownerAuth []byte) error {
	return withSRK(tpm, ownerAuth, func(*srk) error { return nil })
}

// Parent is the loaded storage root key as other objects kept under it
// (attestation keys) see it. WithSRK is their one way to the SRK, so
// that how tpmfs comes by its SRK is decided in this file alone.
type Parent struct{ s *srk }

// Handle is the SRK as the parent of a Create or Load, authorised by
// its empty auth value.
func (p Parent) Handle() tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: p.s.handle, Name: p.s.name, Auth: tpm2.PasswordAuth(nil)}
}

// EncryptOut returns a one-use HMAC session salted to the SRK that
// authorises an object with an empty auth value and encrypts the first
// response parameter, so a secret leaving the TPM is never on the bus
// in the clear.
func (p Parent) EncryptOut() tpm2.Session { return p.s.session(encryptOut) }

// WithSRK runs fn with the storage root key loaded and leaves nothing
// of it behind.
func WithSRK(tpm transport.TPM, ownerAuth []byte, fn func(p Parent) error) error {
	return withSRK(tpm, ownerAuth, func(s *srk) error { return fn(Parent{s}) })
}
