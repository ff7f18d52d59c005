package faketpm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tpmcore"
	"tpmfs/tpmcore/attest"
	"tpmfs/tpmcore/sealing"
)

// The fake's attestation: EK certificates (any bytes) with a PEM public
// key each, attestation keys with real public areas (software keys, so
// that public.pem parses) and fake quotes and credentials.

// ekCert is a fake EK certificate and its key.
type ekCert struct {
	tpmcore.EKCert
	der, pem []byte
}

// attestState is the fake's attestation state; TPM embeds it.
type attestState struct {
	amu      sync.Mutex
	ek       []ekCert
	quoteErr error
	akMade   int
}

// AddEKCert makes the fake hold an EK certificate at index (an index of
// the EK Credential Profile) with the given DER bytes.
func (t *TPM) AddEKCert(index uint32, der []byte) {
	p, ok := attest.EKProfileFor(index)
	if !ok {
		panic(fmt.Sprintf("faketpm: 0x%08x is no EK certificate index", index))
	}
	t.amu.Lock()
	defer t.amu.Unlock()
	t.ek = append(t.ek, ekCert{
		EKCert: tpmcore.EKCert{Index: index, Name: p.Name, Size: len(der)},
		der:    der,
		pem:    []byte("-----BEGIN PUBLIC KEY-----\nfake EK " + p.Name + "\n-----END PUBLIC KEY-----\n"),
	})
}

// FailQuote makes Quote and ActivateCredential return err; nil clears it.
func (t *TPM) FailQuote(err error) {
	t.amu.Lock()
	defer t.amu.Unlock()
	t.quoteErr = err
}

// AKsMade counts the keys CreateAK made.
func (t *TPM) AKsMade() int {
	t.amu.Lock()
	defer t.amu.Unlock()
	return t.akMade
}

func (t *TPM) EKCerts() []tpmcore.EKCert {
	t.amu.Lock()
	defer t.amu.Unlock()
	var out []tpmcore.EKCert
	for _, e := range t.ek {
		out = append(out, e.EKCert)
	}
	return out
}

func (t *TPM) ekCert(index uint32) (ekCert, error) {
	t.amu.Lock()
	defer t.amu.Unlock()
	for _, e := range t.ek {
		if e.Index == index {
			return e, nil
		}
	}
	return ekCert{}, fmt.Errorf("EK certificate 0x%08x: %w", index, tpmcore.ErrNotFound)
}

func (t *TPM) EKCertificate(ctx context.Context, index uint32) ([]byte, error) {
	e, err := t.ekCert(index)
	return bytes.Clone(e.der), err
}

func (t *TPM) EKPublic(ctx context.Context, index uint32) ([]byte, error) {
	e, err := t.ekCert(index)
	return bytes.Clone(e.pem), err
}

// CreateAK makes a key with a real public area: the AK template with a
// software key's public part in its unique field.
func (t *TPM) CreateAK(ctx context.Context, typ string) (*tpmcore.AK, error) {
	if !attest.ValidType(typ) {
		return nil, fmt.Errorf("%w: type %q", tpmcore.ErrInvalid, typ)
	}
	t.amu.Lock()
	t.akMade++
	t.amu.Unlock()
	pub := attest.AKTemplate(typ)
	if typ == attest.RSA {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: k.N.Bytes()})
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: k.X.FillBytes(make([]byte, 32))},
			Y: tpm2.TPM2BECCParameter{Buffer: k.Y.FillBytes(make([]byte, 32))},
		})
	}
	priv := make([]byte, 34)
	rand.Read(priv)
	priv[0], priv[1] = 0, 32
	return &tpmcore.AK{Type: typ, Public: tpm2.Marshal(tpm2.New2B(pub)), Private: priv}, nil
}

// Quote returns a fake quote: "attest" holds the nonce and the key's
// name, the values are the fake's PCRs.
func (t *TPM) Quote(ctx context.Context, k *tpmcore.AK, sel tpmcore.Selection, nonce []byte) (*tpmcore.Quote, error) {
	t.amu.Lock()
	err := t.quoteErr
	t.amu.Unlock()
	if err != nil {
		return nil, err
	}
	if sel.IsEmpty() {
		return nil, fmt.Errorf("%w: empty selection", tpmcore.ErrInvalid)
	}
	for _, b := range sel.Banks() {
		if _, ok := t.Bank(b.Name); !ok {
			return nil, fmt.Errorf("%w: bank %s is not active", tpmcore.ErrInvalid, b.Name)
		}
	}
	pub, err := k.PublicInfo()
	if err != nil {
		return nil, err
	}
	q := &tpmcore.Quote{
		Attest:    append([]byte("fake attest of "+pub.Name+" nonce "), nonce...),
		Signature: []byte("fake signature"),
		Selection: sel, Nonce: nonce,
	}
	t.mu.Lock()
	for _, p := range sel.PCRs() {
		q.Values = append(q.Values, sealing.PCRValue{Bank: p.Bank.Name, Index: p.Index, Digest: t.valueLocked(p.Bank, p.Index)})
	}
	t.mu.Unlock()
	return q, nil
}

// FakeCredential is the fake's credential file for a key's name (hex,
// as ak/NAME/name shows it) and a secret: tpm2_makecredential's format
// with the name as its identity object.
func FakeCredential(nameHex string, secret []byte) []byte {
	name, _ := hex.DecodeString(nameHex)
	b := []byte{0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1, byte(len(name) >> 8), byte(len(name))}
	b = append(b, name...)
	b = append(b, byte(len(secret)>>8), byte(len(secret)))
	return append(b, secret...)
}

// ActivateCredential opens a FakeCredential made for k's name; one for
// another name is tpmcore.ErrAuth.
func (t *TPM) ActivateCredential(ctx context.Context, k *tpmcore.AK, file []byte) ([]byte, error) {
	t.amu.Lock()
	err := t.quoteErr
	t.amu.Unlock()
	if err != nil {
		return nil, err
	}
	c, complete, err := attest.ParseCredential(file)
	if err != nil || !complete {
		return nil, fmt.Errorf("%w: credential %v", tpmcore.ErrInvalid, err)
	}
	pub, err := k.PublicInfo()
	if err != nil {
		return nil, err
	}
	if hex.EncodeToString(c.IDObject) != pub.Name {
		return nil, fmt.Errorf("activate: %w: made for another name", tpmcore.ErrAuth)
	}
	return c.Secret, nil
}
