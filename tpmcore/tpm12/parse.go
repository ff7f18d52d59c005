package tpm12

import (
	"encoding/binary"
	"fmt"
)

// reader walks a big-endian TPM structure; the first short read sticks
// in err, so a parser checks once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("truncated: want %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// done fails if bytes remain: every structure here has an exact size.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// Structure tags (TPM Main Part 2, section 3.1).
const (
	tagPCRInfoLong  uint16 = 0x0006
	tagStoredData12 uint16 = 0x0016
	tagCapVersion   uint16 = 0x0030
)

// maxSelectSize bounds a TPM_PCR_SELECTION's sizeOfSelect: no TPM 1.2
// has more than a few dozen PCRs.
const maxSelectSize = 8

// versionInfo is TPM_CAP_VERSION_INFO (Part 2, section 21.6).
type versionInfo struct {
	major, minor, revMajor, revMinor uint8
	specLevel                        uint16
	errataRev                        uint8
	vendorID                         [4]byte
	vendorSpecific                   []byte
}

func parseVersionInfo(b []byte) (versionInfo, error) {
	var v versionInfo
	r := reader{b: b}
	if tag := r.u16(); r.err == nil && tag != tagCapVersion {
		return v, fmt.Errorf("TPM_CAP_VERSION_INFO: tag %#04x, want %#04x", tag, tagCapVersion)
	}
	v.major, v.minor, v.revMajor, v.revMinor = r.u8(), r.u8(), r.u8(), r.u8()
	v.specLevel = r.u16()
	v.errataRev = r.u8()
	copy(v.vendorID[:], r.take(4))
	v.vendorSpecific = append([]byte(nil), r.take(int(r.u16()))...)
	if err := r.done(); err != nil {
		return versionInfo{}, fmt.Errorf("TPM_CAP_VERSION_INFO: %w", err)
	}
	return v, nil
}

// parseHandleList reads TPM_KEY_HANDLE_LIST, the answer to
// TPM_GetCapability(TPM_CAP_HANDLE): a count and that many handles.
func parseHandleList(b []byte) ([]uint32, error) {
	r := reader{b: b}
	n := int(r.u16())
	if r.err == nil && n*4 != len(r.b) {
		return nil, fmt.Errorf("TPM_KEY_HANDLE_LIST: %d handles in %d bytes", n, len(r.b))
	}
	hs := make([]uint32, 0, n)
	for range n {
		hs = append(hs, r.u32())
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("TPM_KEY_HANDLE_LIST: %w", err)
	}
	return hs, nil
}

// parseSelection reads a TPM_PCR_SELECTION into ascending PCR indices.
func parseSelection(r *reader) []int {
	size := int(r.u16())
	if r.err == nil && size > maxSelectSize {
		r.err = fmt.Errorf("PCR selection of %d bytes", size)
		return nil
	}
	var pcrs []int
	for i, m := range r.take(size) {
		for bit := range 8 {
			if m&(1<<bit) != 0 {
				pcrs = append(pcrs, i*8+bit)
			}
		}
	}
	return pcrs
}

// parseSealed reads a TPM_STORED_DATA12 as TPM_Seal returns it (with a
// TPM_PCR_INFO_LONG, or no PCR info at all).
func parseSealed(b []byte) (SealInfo, error) {
	var si SealInfo
	r := reader{b: b}
	if tag := r.u16(); r.err == nil && tag != tagStoredData12 {
		return si, fmt.Errorf("%w: tag %#04x, want TPM_STORED_DATA12 %#04x", ErrCorrupt, tag, tagStoredData12)
	}
	r.u16() // entity type: TPM_ET_DATA, or another for TPM_Sealx
	info := reader{b: r.take(int(r.u32()))}
	if r.err == nil && len(info.b) > 0 {
		if tag := info.u16(); info.err == nil && tag != tagPCRInfoLong {
			return si, fmt.Errorf("%w: seal info tag %#04x, want TPM_PCR_INFO_LONG %#04x", ErrCorrupt, tag, tagPCRInfoLong)
		}
		info.u8() // localityAtCreation
		si.LocalityAtRelease = info.u8()
		parseSelection(&info) // creationPCRSelection
		si.PCRs = parseSelection(&info)
		info.take(20) // digestAtCreation
		copy(si.Digest[:], info.take(20))
		if err := info.done(); err != nil {
			return SealInfo{}, fmt.Errorf("%w: TPM_PCR_INFO_LONG: %w", ErrCorrupt, err)
		}
	}
	if enc := r.take(int(r.u32())); r.err == nil && len(enc) == 0 {
		return SealInfo{}, fmt.Errorf("%w: no encrypted data", ErrCorrupt)
	}
	if err := r.done(); err != nil {
		return SealInfo{}, fmt.Errorf("%w: TPM_STORED_DATA12: %w", ErrCorrupt, err)
	}
	return si, nil
}
