package tpm12

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm"
	"github.com/google/go-tpm/tpm2/transport"
)

// DigestSize is the size of a TPM 1.2 PCR and of every digest here (SHA-1).
const DigestSize = sha1.Size

// MaxPCRs is the number of PCRs a PC client TPM 1.2 has and the most this
// package selects: go-tpm's PCR selections are 3 bytes.
const MaxPCRs = 24

// ReadPCR returns the value of PCR idx (TPM_PCRRead).
func ReadPCR(t transport.TPM, idx int) ([DigestSize]byte, error) {
	var v [DigestSize]byte
	if idx < 0 || idx >= MaxPCRs {
		return v, fmt.Errorf("read PCR %d: %w: index out of range 0-%d", idx, ErrBadIndex, MaxPCRs-1)
	}
	c := newConn(t)
	b, err := tpm.ReadPCR(c, uint32(idx))
	if err != nil {
		return v, c.fail(fmt.Sprintf("read PCR %d", idx), err)
	}
	if len(b) != DigestSize {
		return v, fmt.Errorf("read PCR %d: %d-byte value", idx, len(b))
	}
	copy(v[:], b)
	return v, nil
}

// Extend extends PCR idx with digest (TPM_Extend: new = SHA-1(old ||
// digest)) and returns the new value. A PCR this locality may not extend
// gives ErrLocality.
func Extend(t transport.TPM, idx int, digest [DigestSize]byte) ([DigestSize]byte, error) {
	var v [DigestSize]byte
	if idx < 0 || idx >= MaxPCRs {
		return v, fmt.Errorf("extend PCR %d: %w: index out of range 0-%d", idx, ErrBadIndex, MaxPCRs-1)
	}
	c := newConn(t)
	b, err := tpm.PcrExtend(c, uint32(idx), digest)
	if err != nil {
		return v, c.fail(fmt.Sprintf("extend PCR %d", idx), err)
	}
	if len(b) != DigestSize {
		return v, fmt.Errorf("extend PCR %d: %d-byte value", idx, len(b))
	}
	copy(v[:], b)
	return v, nil
}

// Measure extends PCR idx with the SHA-1 of data, as an event is measured
// on TPM 1.2 (tpm2_pcrevent's rule, for the one bank there is).
func Measure(t transport.TPM, idx int, data []byte) ([DigestSize]byte, error) {
	return Extend(t, idx, sha1.Sum(data))
}

// CanExtend reports whether software at locality 0 (all of Linux user
// space) may extend PCR idx on a PC client TPM 1.2: PCRs 0-16 and 23 yes;
// 17-22 belong to the dynamic root of trust (localities 1-4). This is the
// PC Client specification's table, since a TPM 1.2 does not report its
// PCR attributes; Extend gives ErrLocality wherever the TPM disagrees.
func CanExtend(idx int) bool {
	return idx >= 0 && idx < MaxPCRs && (idx <= 16 || idx == 23)
}

// PCRValue is one PCR's value.
type PCRValue struct {
	Index int
	Value [DigestSize]byte
}

// PCRComposite returns the digest TPM 1.2 computes over PCR values for
// sealing (digestAtRelease): SHA-1 of TPM_PCR_COMPOSITE, i.e. the 3-byte
// TPM_PCR_SELECTION of the indices, the total size of the values, and
// the values in ascending index order. Order of vals does not matter; an
// index twice or out of range is ErrInvalid.
func PCRComposite(vals []PCRValue) ([DigestSize]byte, error) {
	var byIdx [MaxPCRs]*[DigestSize]byte
	for i := range vals {
		v := &vals[i]
		if v.Index < 0 || v.Index >= MaxPCRs {
			return [DigestSize]byte{}, fmt.Errorf("PCR composite: %w: PCR %d out of range 0-%d", ErrInvalid, v.Index, MaxPCRs-1)
		}
		if byIdx[v.Index] != nil {
			return [DigestSize]byte{}, fmt.Errorf("PCR composite: %w: PCR %d twice", ErrInvalid, v.Index)
		}
		byIdx[v.Index] = &v.Value
	}
	// TPM_PCR_SELECTION: sizeOfSelect (3), then bit i%8 of byte i/8.
	var mask [MaxPCRs / 8]byte
	var values []byte
	for i, v := range byIdx {
		if v != nil {
			mask[i/8] |= 1 << (i % 8)
			values = append(values, v[:]...)
		}
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(len(mask)))
	b = append(b, mask[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)))
	return sha1.Sum(append(b, values...)), nil
}
