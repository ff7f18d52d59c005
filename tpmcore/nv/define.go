package nv

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// The range tpmfs defines indices in: the TPM owner's, below the TCG's
// own (0x01c00000 and up: EK certificates and the like).
const (
	DefineFirst uint32 = 0x01000000
	DefineLast  uint32 = 0x01bfffff
)

// DefinedAttributes are the attributes of an index tpmfs defines: read
// and written with its empty auth value, so by anyone the file mode lets
// in, and tpm2_nvread/tpm2_nvwrite without -P; no dictionary-attack
// protection, as an empty auth value guards nothing against guessing and
// a wrong guess must not count towards locking the TPM out.
var DefinedAttributes = tpm2.TPMANV{AuthRead: true, AuthWrite: true, NoDA: true, NT: tpm2.TPMNTOrdinary}

// Define defines an ordinary index of size bytes at index with owner
// authorisation and an empty auth value.
func Define(t transport.TPM, ownerAuth []byte, index uint32, size int) error {
	if index < DefineFirst || index > DefineLast {
		return fmt.Errorf("define 0x%08x: %w: tpmfs defines indices in 0x%08x-0x%08x", index, ErrNotIndex, DefineFirst, DefineLast)
	}
	if size <= 0 || size > 0xffff {
		return fmt.Errorf("define 0x%08x: %w: size %d", index, ErrRange, size)
	}
	_, err := tpm2.NVDefineSpace{
		AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(ownerAuth)},
		PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{
			NVIndex:    tpm2.TPMHandle(index),
			NameAlg:    tpm2.TPMAlgSHA256,
			Attributes: DefinedAttributes,
			DataSize:   uint16(size),
		}),
	}.Execute(t)
	if errors.Is(err, tpm2.TPMRCSize) {
		// The only size in the command is the index's.
		return fmt.Errorf("NV_DefineSpace 0x%08x: %w: the TPM takes no index of %d bytes: %w", index, ErrRange, size, err)
	}
	if err != nil {
		return fmt.Errorf("NV_DefineSpace 0x%08x (%d bytes): %w", index, size, err)
	}
	return nil
}

// Undefinable reports whether the owner can undefine p: not one the
// platform made, nor one that needs its policy to go.
func (p Public) Undefinable() bool {
	return !p.Attributes.PlatformCreate && !p.Attributes.PolicyDelete
}

// Undefine removes p with owner authorisation.
func Undefine(t transport.TPM, ownerAuth []byte, p Public) error {
	if !p.Undefinable() {
		return fmt.Errorf("undefine 0x%08x: %w: made by the platform or deleted only by its policy", p.Index, ErrNoAuth)
	}
	_, err := tpm2.NVUndefineSpace{
		AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(ownerAuth)},
		NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(p.Index), Name: p.Name},
	}.Execute(t)
	if err != nil {
		return fmt.Errorf("NV_UndefineSpace 0x%08x: %w", p.Index, err)
	}
	return nil
}
