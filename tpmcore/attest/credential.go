package attest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The credential file tpm2_makecredential -o writes (and
// tpm2_activatecredential -i reads): a magic number and a version, then
// the TPM2B_ID_OBJECT and the TPM2B_ENCRYPTED_SECRET, all big-endian.
const (
	credMagic   = 0xbadcc0de
	credVersion = 1
	// MaxCredential bounds a credential file: both parts are TPM2Bs of
	// at most a few hundred bytes (an RSA-4096 EK's secret is 512).
	MaxCredential = 8 + 2 + 1024 + 2 + 1024
)

// ErrCredential: a credential file that does not parse.
var ErrCredential = errors.New("invalid credential file")

// Credential is a parsed credential file.
type Credential struct {
	IDObject []byte // TPM2B_ID_OBJECT's contents
	Secret   []byte // TPM2B_ENCRYPTED_SECRET's contents
}

// ParseCredential reads a credential file. complete is false while b is
// a proper prefix of one (more is to come); a file with anything after
// the secret, or that can never become one, is ErrCredential.
func ParseCredential(b []byte) (c *Credential, complete bool, err error) {
	if len(b) > MaxCredential {
		return nil, false, fmt.Errorf("%w: %d bytes, at most %d", ErrCredential, len(b), MaxCredential)
	}
	prefix := func(n int) bool { return len(b) < n }
	if len(b) >= 4 && binary.BigEndian.Uint32(b) != credMagic {
		return nil, false, fmt.Errorf("%w: not tpm2_makecredential's format (magic %#08x)", ErrCredential, binary.BigEndian.Uint32(b))
	}
	if len(b) >= 8 && binary.BigEndian.Uint32(b[4:]) != credVersion {
		return nil, false, fmt.Errorf("%w: version %d, want %d", ErrCredential, binary.BigEndian.Uint32(b[4:]), credVersion)
	}
	if prefix(10) {
		return nil, false, nil
	}
	n := int(binary.BigEndian.Uint16(b[8:]))
	if n == 0 {
		return nil, false, fmt.Errorf("%w: empty credential", ErrCredential)
	}
	if prefix(10 + n + 2) {
		return nil, false, nil
	}
	id := b[10 : 10+n]
	m := int(binary.BigEndian.Uint16(b[10+n:]))
	if m == 0 {
		return nil, false, fmt.Errorf("%w: empty secret", ErrCredential)
	}
	end := 10 + n + 2 + m
	if prefix(end) {
		return nil, false, nil
	}
	if len(b) > end {
		return nil, false, fmt.Errorf("%w: %d bytes after the secret", ErrCredential, len(b)-end)
	}
	return &Credential{IDObject: append([]byte(nil), id...), Secret: append([]byte(nil), b[10+n+2:end]...)}, true, nil
}
