package tpm12

import (
	"fmt"

	"tpmfs/internal/tpmwire"
)

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
	r := tpmwire.NewReader(b)
	if tag := r.U16(); r.Err() == nil && tag != tagCapVersion {
		return v, fmt.Errorf("TPM_CAP_VERSION_INFO: tag %#04x, want %#04x", tag, tagCapVersion)
	}
	v.major, v.minor, v.revMajor, v.revMinor = r.U8(), r.U8(), r.U8(), r.U8()
	v.specLevel = r.U16()
	v.errataRev = r.U8()
	copy(v.vendorID[:], r.Take(4))
	v.vendorSpecific = append([]byte(nil), r.Take(int(r.U16()))...)
	if err := r.Done(); err != nil {
		return versionInfo{}, fmt.Errorf("TPM_CAP_VERSION_INFO: %w", err)
	}
	return v, nil
}

// parseHandleList reads TPM_KEY_HANDLE_LIST, the answer to
// TPM_GetCapability(TPM_CAP_HANDLE): a count and that many handles.
func parseHandleList(b []byte) ([]uint32, error) {
	r := tpmwire.NewReader(b)
	n := int(r.U16())
	if r.Err() == nil && n*4 != r.Len() {
		return nil, fmt.Errorf("TPM_KEY_HANDLE_LIST: %d handles in %d bytes", n, r.Len())
	}
	hs := make([]uint32, 0, n)
	for range n {
		hs = append(hs, r.U32())
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("TPM_KEY_HANDLE_LIST: %w", err)
	}
	return hs, nil
}

// parseSelection reads a TPM_PCR_SELECTION into ascending PCR indices.
func parseSelection(r *tpmwire.Reader) []int {
	size := int(r.U16())
	if r.Err() == nil && size > maxSelectSize {
		r.Fail(fmt.Errorf("PCR selection of %d bytes", size))
		return nil
	}
	var pcrs []int
	for i, m := range r.Take(size) {
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
	r := tpmwire.NewReader(b)
	if tag := r.U16(); r.Err() == nil && tag != tagStoredData12 {
		return si, fmt.Errorf("%w: tag %#04x, want TPM_STORED_DATA12 %#04x", ErrCorrupt, tag, tagStoredData12)
	}
	r.U16() // entity type: TPM_ET_DATA, or another for TPM_Sealx
	info := tpmwire.NewReader(r.Take(int(r.U32())))
	if r.Err() == nil && info.Len() > 0 {
		if tag := info.U16(); info.Err() == nil && tag != tagPCRInfoLong {
			return si, fmt.Errorf("%w: seal info tag %#04x, want TPM_PCR_INFO_LONG %#04x", ErrCorrupt, tag, tagPCRInfoLong)
		}
		info.U8() // localityAtCreation
		si.LocalityAtRelease = info.U8()
		parseSelection(&info) // creationPCRSelection
		si.PCRs = parseSelection(&info)
		info.Take(20) // digestAtCreation
		copy(si.Digest[:], info.Take(20))
		if err := info.Done(); err != nil {
			return SealInfo{}, fmt.Errorf("%w: TPM_PCR_INFO_LONG: %w", ErrCorrupt, err)
		}
	}
	if enc := r.Take(int(r.U32())); r.Err() == nil && len(enc) == 0 {
		return SealInfo{}, fmt.Errorf("%w: no encrypted data", ErrCorrupt)
	}
	if err := r.Done(); err != nil {
		return SealInfo{}, fmt.Errorf("%w: TPM_STORED_DATA12: %w", ErrCorrupt, err)
	}
	return si, nil
}
