package sealing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// keySize is the envelope key's size: AES-256.
const keySize = 32

// adLabel starts the associated data, so that a ciphertext of another
// format or version never opens as this one.
const adLabel = "tpmfs/seal/v1\x00"

// associatedData binds a ciphertext to the object's name.
func associatedData(name string) []byte {
	return append([]byte(adLabel), name...)
}

// encrypt seals secret for name under a fresh key from the system's
// CSPRNG, which the caller seals in the TPM and then wipes. The key is
// used once, so a random nonce is more than enough.
func encrypt(name string, secret []byte) (key, nonce, ciphertext []byte, err error) {
	key = make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, nil, fmt.Errorf("envelope key: %w", err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, nil, nil, err
	}
	nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, nil, fmt.Errorf("envelope nonce: %w", err)
	}
	return key, nonce, aead.Seal(nil, nonce, secret, associatedData(name)), nil
}

// decrypt opens the ciphertext of obj for name; any mismatch is ErrCorrupt.
func decrypt(key []byte, name string, obj *Object) ([]byte, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: sealed key is %d bytes, want %d", ErrCorrupt, len(key), keySize)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(obj.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce is %d bytes, want %d", ErrCorrupt, len(obj.Nonce), aead.NonceSize())
	}
	secret, err := aead.Open(nil, obj.Nonce, obj.Ciphertext, associatedData(name))
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext does not authenticate under name %q", ErrCorrupt, name)
	}
	return secret, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope cipher: %w", err)
	}
	return aead, nil
}

// wipe overwrites key material once it is no longer needed.
func wipe(b []byte) { clear(b) }
