package attest

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// PublicPEM renders a TPM public area as a PEM "PUBLIC KEY" (PKIX), as
// tpm2_readpublic -f pem and openssl write it.
func PublicPEM(pub *tpm2.TPMTPublic) ([]byte, error) {
	key, err := tpm2.Pub(*pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// AKPublic is what ak/NAME shows of a key: its public key in PEM, its
// TPM2B_PUBLIC as tpm2_readpublic -o writes it, and its name in hex as
// tpm2_makecredential -n takes it.
type AKPublic struct {
	PEM   []byte
	TPM2B []byte
	Name  string
}

// PublicInfo describes a created key.
func (k *Key) PublicInfo() (*AKPublic, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	if !k.Created() {
		return nil, fmt.Errorf("%w: no key yet", ErrCorrupt)
	}
	pub, err := k.public()
	if err != nil {
		return nil, err
	}
	p, err := PublicPEM(pub)
	if err != nil {
		return nil, err
	}
	name, err := tpm2.ObjectName(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: name: %w", ErrCorrupt, err)
	}
	return &AKPublic{PEM: p, TPM2B: k.Public, Name: hex.EncodeToString(name.Buffer)}, nil
}
