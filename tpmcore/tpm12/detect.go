package tpm12

import "tpmfs/internal/tpmwire"

// Response tags of TPM 1.2 (TPM_TAG_RSP_COMMAND, _AUTH1_, _AUTH2_).
const (
	tagRspCommand uint16 = 0x00C4
	tagRspAuth2   uint16 = 0x00C6
)

// IsTPM12Response reports whether rsp carries a TPM 1.2 response tag. A
// TPM 1.2 answers a TPM 2.0 command (tag 0x8001) with an error
// (TPM_BADTAG; libtpms: TPM_BAD_ORDINAL) in a TPM 1.2 response, so this,
// applied to the answer to any TPM 2.0 command, tells the families
// apart. The probe must be a TPM 2.0 command: a TPM 2.0 answers
// 1.2-tagged commands in the 1.2 format too.
func IsTPM12Response(rsp []byte) bool {
	h, ok := tpmwire.ParseHeader(rsp)
	return ok && h.Tag >= tagRspCommand && h.Tag <= tagRspAuth2
}
