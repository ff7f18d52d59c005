package pcrsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Errors; every error of this package wraps one of them.
var (
	// ErrInvalid: malformed input, or a signature that does not verify.
	ErrInvalid = errors.New("invalid signed PCR policy")
	// ErrOtherKey: a policy signed by another key than the authkey.
	ErrOtherKey = errors.New("PCR policy signed by another key")
)

// MaxKeyText bounds a PEM public key: an RSA-2048 one is 451 bytes.
const MaxKeyText = 4 << 10

// pemType is the one PEM block a key may be, as PEM_read_PUBKEY reads it.
const pemType = "PUBLIC KEY"

// Key is a public key that signs PCR policies.
type Key struct {
	// Public is an *rsa.PublicKey (2048 bits) or an *ecdsa.PublicKey
	// (NIST P-256).
	Public crypto.PublicKey
	// DER is its SubjectPublicKeyInfo, as OpenSSL's i2d_PUBKEY writes it.
	DER []byte
}

// ParseKey reads a PEM public key: one "PUBLIC KEY" block without
// headers, nothing but white space around it, RSA with a 2048-bit modulus
// or ECC on NIST P-256.
func ParseKey(text []byte) (*Key, error) {
	if len(text) > MaxKeyText {
		return nil, fmt.Errorf("%w: public key of %d bytes, at most %d", ErrInvalid, len(text), MaxKeyText)
	}
	trimmed := bytes.TrimLeft(text, space)
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN "+pemType+"-----")) {
		return nil, fmt.Errorf("%w: want a PEM public key (-----BEGIN %s-----)", ErrInvalid, pemType)
	}
	block, rest := pem.Decode(trimmed)
	if block == nil || block.Type != pemType {
		return nil, fmt.Errorf("%w: malformed PEM public key", ErrInvalid)
	}
	if len(block.Headers) > 0 {
		return nil, fmt.Errorf("%w: PEM headers in a public key", ErrInvalid)
	}
	if len(bytes.Trim(rest, space)) > 0 {
		return nil, fmt.Errorf("%w: more after the public key: one key only", ErrInvalid)
	}
	return KeyFromDER(block.Bytes)
}

// KeyFromDER reads a SubjectPublicKeyInfo, with ParseKey's limits; it
// must be in the canonical encoding (the one Key.DER holds).
func KeyFromDER(der []byte) (*Key, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %w", ErrInvalid, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() != 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits, want 2048", ErrInvalid, k.N.BitLen())
		}
		if k.E < 3 || int64(k.E) > 1<<32-1 {
			return nil, fmt.Errorf("%w: RSA exponent %d does not fit a TPM key", ErrInvalid, k.E)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECC key on %s, want NIST P-256", ErrInvalid, k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("%w: a %T key; want RSA-2048 or ECC NIST P-256", ErrInvalid, pub)
	}
	canon, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %w", ErrInvalid, err)
	}
	if !bytes.Equal(canon, der) {
		return nil, fmt.Errorf("%w: public key not in canonical DER", ErrInvalid)
	}
	return &Key{Public: pub, DER: canon}, nil
}

// Fingerprint is systemd's "pkfp": SHA-256 of the key as OpenSSL's
// i2d_PublicKey writes it: the PKCS#1 RSAPublicKey of an RSA key, the
// uncompressed point of an ECC key (not the SubjectPublicKeyInfo).
func (k *Key) Fingerprint() []byte {
	var raw []byte
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		raw = x509.MarshalPKCS1PublicKey(pub)
	case *ecdsa.PublicKey:
		e, err := pub.ECDH()
		if err != nil {
			return nil // KeyFromDER accepts only points on P-256
		}
		raw = e.Bytes()
	}
	fp := sha256.Sum256(raw)
	return fp[:]
}

// PEM is the key as ParseKey reads it back.
func (k *Key) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: k.DER})
}

// Kind names the key's algorithm and size: "rsa2048", "ecc-nistp256".
func (k *Key) Kind() string {
	if _, ok := k.Public.(*rsa.PublicKey); ok {
		return "rsa2048"
	}
	return "ecc-nistp256"
}

// verify checks sig over the hash h of msg, as OpenSSL's EVP_DigestSign
// makes it: RSASSA-PKCS1-v1_5, or ECDSA with a DER (r, s).
func (k *Key) verify(h crypto.Hash, msg, sig []byte) error {
	d := h.New()
	d.Write(msg)
	sum := d.Sum(nil)
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, h, sum, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, sum, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unsupported key %T", k.Public)
}
