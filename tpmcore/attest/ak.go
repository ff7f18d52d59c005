package attest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/sealing"
)

// Key types of an attestation key.
const (
	ECC = "ecc" // ECC NIST P-256, ECDSA with SHA-256: the default
	RSA = "rsa" // RSA-2048, RSASSA-PKCS1-v1_5 with SHA-256
)

// ErrCorrupt: a stored key that does not parse or is not an AK.
var ErrCorrupt = errors.New("attestation key corrupt")

// Key is an attestation key as kept on disk: its type, chosen before it
// exists, and once created the TPM2B_PUBLIC and TPM2B_PRIVATE (size
// prefix included, as tpm2_load -u/-r read them) that load it under the
// storage root key. It is stored as JSON by sealstore.
type Key struct {
	Type    string `json:"type"`
	Public  []byte `json:"public,omitempty"`
	Private []byte `json:"private,omitempty"`
}

// Created reports whether the key exists in the TPM's sense.
func (k *Key) Created() bool { return len(k.Public) > 0 }

// ValidType reports whether typ names a key type.
func ValidType(typ string) bool { return typ == ECC || typ == RSA }

// Validate checks what a stored key must satisfy without a TPM: a known
// type, and either no key yet or a public and a private area, the public
// one an AK of that type.
func (k *Key) Validate() error {
	if !ValidType(k.Type) {
		return fmt.Errorf("%w: type %q: want %q or %q", ErrCorrupt, k.Type, ECC, RSA)
	}
	if len(k.Public) == 0 && len(k.Private) == 0 {
		return nil
	}
	if !whole2B(k.Public) || !whole2B(k.Private) {
		return fmt.Errorf("%w: public or private area missing, truncated or padded", ErrCorrupt)
	}
	pub, err := k.public()
	if err != nil {
		return err
	}
	want := AKTemplate(k.Type)
	if pub.Type != want.Type || pub.NameAlg != want.NameAlg || pub.ObjectAttributes != want.ObjectAttributes {
		return fmt.Errorf("%w: public area is not a tpmfs %s attestation key", ErrCorrupt, k.Type)
	}
	return nil
}

// public parses the key's public area.
func (k *Key) public() (*tpm2.TPMTPublic, error) {
	p, err := tpm2.Unmarshal[tpm2.TPM2BPublic](k.Public)
	if err != nil {
		return nil, fmt.Errorf("%w: public area: %w", ErrCorrupt, err)
	}
	pub, err := p.Contents()
	if err != nil {
		return nil, fmt.Errorf("%w: public area: %w", ErrCorrupt, err)
	}
	return pub, nil
}

func whole2B(b []byte) bool {
	return len(b) > 2 && int(binary.BigEndian.Uint16(b)) == len(b)-2
}

// akAttributes: a restricted signing key that never leaves this TPM and
// parent, made by the TPM, used with its auth value (empty, so noDA:
// failures guard nothing and must not lock the TPM out). Restricted, it
// signs only what the TPM itself produced (quotes), never a digest from
// outside made to look like one.
var akAttributes = tpm2.TPMAObject{
	FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true,
	NoDA: true, Restricted: true, SignEncrypt: true,
}

// AKTemplate is the template of an AK of type typ (ECC or RSA). The
// signing scheme is set, not left to the caller, as verifiers
// (go-attestation, keylime) require.
func AKTemplate(typ string) tpm2.TPMTPublic {
	if typ == RSA {
		return tpm2.TPMTPublic{
			Type: tpm2.TPMAlgRSA, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: akAttributes,
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
				Scheme: tpm2.TPMTRSAScheme{
					Scheme:  tpm2.TPMAlgRSASSA,
					Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSASSA, &tpm2.TPMSSigSchemeRSASSA{HashAlg: tpm2.TPMAlgSHA256}),
				},
				KeyBits: 2048,
			}),
			Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{}),
		}
	}
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: akAttributes,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
			CurveID: tpm2.TPMECCNistP256,
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{}),
	}
}

// signHash is the hash of an AK's signing scheme, which is also the
// hash of a quote's PCR digest.
const signHash = tpm2.TPMAlgSHA256

// CreateAK creates an attestation key of type typ under the SRK.
func CreateAK(tpm transport.TPM, ownerAuth []byte, typ string) (*Key, error) {
	if !ValidType(typ) {
		return nil, fmt.Errorf("create AK: type %q: want %q or %q", typ, ECC, RSA)
	}
	var k *Key
	err := sealing.WithSRK(tpm, ownerAuth, func(p sealing.Parent) error {
		rsp, err := tpm2.Create{
			ParentHandle: p.Handle(),
			InPublic:     tpm2.New2B(AKTemplate(typ)),
		}.Execute(tpm)
		if err != nil {
			return fmt.Errorf("create AK: %w", err)
		}
		k = &Key{Type: typ, Public: tpm2.Marshal(rsp.OutPublic), Private: tpm2.Marshal(rsp.OutPrivate)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// loaded is an AK loaded under the SRK.
type loaded struct {
	tpm2.NamedHandle
	pub *tpm2.TPMTPublic
}

// load loads k under p; the caller flushes it.
func load(tpm transport.TPM, p sealing.Parent, k *Key) (*loaded, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	if !k.Created() {
		return nil, fmt.Errorf("%w: no key yet", ErrCorrupt)
	}
	pub, _ := tpm2.Unmarshal[tpm2.TPM2BPublic](k.Public)
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](k.Private)
	if err != nil {
		return nil, fmt.Errorf("%w: private area: %w", ErrCorrupt, err)
	}
	rsp, err := tpm2.Load{ParentHandle: p.Handle(), InPrivate: *priv, InPublic: *pub}.Execute(tpm)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCIntegrity) || errors.Is(err, tpm2.TPMRCBinding) {
			return nil, fmt.Errorf("load AK: %w: %w", sealing.ErrWrongTPM, err)
		}
		return nil, fmt.Errorf("load AK: %w", err)
	}
	area, _ := k.public()
	return &loaded{NamedHandle: tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}, pub: area}, nil
}

// flush removes a transient object or session from the TPM.
func flush(tpm transport.TPM, h tpm2.TPMHandle) error {
	if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(tpm); err != nil {
		return fmt.Errorf("flush 0x%08x: %w", uint32(h), err)
	}
	return nil
}

// withAK runs fn with k loaded under the SRK, and flushes both.
func withAK(tpm transport.TPM, ownerAuth []byte, k *Key, fn func(p sealing.Parent, ak *loaded) error) error {
	return sealing.WithSRK(tpm, ownerAuth, func(p sealing.Parent) error {
		ak, err := load(tpm, p, k)
		if err != nil {
			return err
		}
		return errors.Join(fn(p, ak), flush(tpm, ak.Handle))
	})
}
