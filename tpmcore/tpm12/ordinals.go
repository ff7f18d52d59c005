package tpm12

import "fmt"

// OrdPCRRead is TPM_ORD_PcrRead, the command of a PCR read.
const OrdPCRRead = 0x15

// ordinalNames names the TPM 1.2 ordinals (TPM 1.2 Part 2, 17) that
// tpmfs sends and a TSS such as TrouSerS commonly does, for status
// reports; others show as numbers.
var ordinalNames = map[uint32]string{
	0x0A: "OIAP", 0x0B: "OSAP", 0x0D: "TakeOwnership", 0x14: "Extend",
	OrdPCRRead: "PcrRead", 0x16: "Quote", 0x17: "Seal", 0x18: "Unseal",
	0x41: "LoadKey2", 0x46: "GetRandom", 0x5B: "OwnerClear", 0x65: "GetCapability",
	0x7C: "ReadPubek", 0x98: "SaveState", 0x99: "Startup", 0xBA: "FlushSpecific",
}

// OrdinalName names a TPM 1.2 ordinal: "TPM_ORD_PcrRead".
func OrdinalName(ord uint32) string {
	if n, ok := ordinalNames[ord]; ok {
		return "TPM_ORD_" + n
	}
	return fmt.Sprintf("TPM_ORD_0x%08x", ord)
}
