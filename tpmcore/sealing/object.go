package sealing

import "fmt"

// Object is what tpmfs keeps for one sealed secret: enough to unseal it on
// the same TPM in the right PCR state, and nothing that reveals it without
// that TPM. It is stored as JSON ([]byte fields in base64) by sealstore.
type Object struct {
	// Family is the TPM family that sealed it: "" for TPM 2.0, "1.2"
	// (Family12) for TPM 1.2, where Private is the TPM_STORED_DATA12 of
	// TPM_Seal, Public is empty, and Policy is the 20-byte PCR composite
	// digest the key is sealed to.
	Family string `json:"family,omitempty"`
	// Selection is the PCR selection in canonical tpm2-tools syntax
	// (pcrsel.Selection.String: banks by algorithm id, "sha1:1+sha256:0,7");
	// empty means bound to this TPM only. Policy is computed over the
	// selection in this order.
	Selection string `json:"pcrs"`
	// PCRValues are the values the selected PCRs had at seal time, so an
	// unseal that fails its policy can say which PCRs differ.
	PCRValues []PCRValue `json:"pcr_values,omitempty"`
	// Policy is the sealed key's policy digest (empty without a selection).
	Policy []byte `json:"policy,omitempty"`
	// Public and Private are the TPM2B_PUBLIC and TPM2B_PRIVATE (size
	// prefix included, as tpm2_load -u/-r read them) of the sealed-data
	// object holding the envelope key, loadable under the SRK.
	Public  []byte `json:"public,omitempty"`
	Private []byte `json:"private"`
	// Parent is the storage root key Private was made under (TPM 2.0);
	// nil for objects sealed before it was recorded, which were all
	// made under the ECC P-256 template primary of the owner hierarchy.
	Parent *Parent `json:"parent,omitempty"`
	// Nonce and Ciphertext are the AES-256-GCM-encrypted secret; the
	// associated data is "tpmfs/seal/v1\x00" followed by the object's name.
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// PCRValue is one PCR's value at seal time.
type PCRValue struct {
	Bank   string `json:"bank"` // sha1, sha256, sha384, sha512, sm3_256
	Index  int    `json:"index"`
	Digest []byte `json:"digest"`
}

// Parent names the storage root key a TPM 2.0 object was sealed under.
type Parent struct {
	// Handle is where tpmfs found the key: PersistentSRK (0x81000001)
	// for a persistent key of the SRK template, or TPM_RH_OWNER
	// (0x40000001) for the primary it makes from the template itself.
	Handle ParentHandle `json:"handle"`
	// Name is the key's TPM name (its name algorithm and the digest of
	// its public area): the key itself, whichever handle holds it.
	Name []byte `json:"name"`
}

// ParentHandle is a TPM handle, written "0x81000001" in JSON.
type ParentHandle uint32

// MarshalText writes the handle as 0x and eight hex digits.
func (h ParentHandle) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "0x%08x", uint32(h)), nil
}

// UnmarshalText reads what MarshalText writes, and nothing else.
func (h *ParentHandle) UnmarshalText(b []byte) error {
	var v uint32
	if len(b) != 10 || b[0] != '0' || b[1] != 'x' {
		return fmt.Errorf("parent handle %q: want 0x and 8 hex digits", b)
	}
	for _, c := range b[2:] {
		d, ok := hexDigit(c)
		if !ok {
			return fmt.Errorf("parent handle %q: want 0x and 8 hex digits", b)
		}
		v = v<<4 | uint32(d)
	}
	*h = ParentHandle(v)
	return nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
