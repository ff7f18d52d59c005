package sealing

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
	// PCRValues are the values the key is sealed to, one per selected
	// PCR in selection order: the value given for it (a predicted one),
	// or the one it had at seal time. The policy is computed from them,
	// and an unseal that fails says which PCRs differ.
	PCRValues []PCRValue `json:"pcr_values,omitempty"`
	// AuthKey, on a TPM 2.0, is the DER public key (pcrsig.Key) whose
	// signed PCR policies open the key: Policy is then PolicyAuthorize by
	// it, followed by PolicyPCR over Selection if that is not empty.
	AuthKey []byte `json:"authkey,omitempty"`
	// Policy is the sealed key's policy digest (empty without a selection
	// or an AuthKey).
	Policy []byte `json:"policy,omitempty"`
	// Parent names the storage key the object is sealed under, so that
	// an object of another TPM is told apart without trying it: on a TPM
	// 2.0 the storage root key's TPM name (hash algorithm and digest of
	// its public area). Empty on a TPM 1.2, whose SRK cannot be read, and
	// in objects sealed before tpmfs recorded it.
	Parent []byte `json:"parent,omitempty"`
	// Public and Private are the TPM2B_PUBLIC and TPM2B_PRIVATE (size
	// prefix included, as tpm2_load -u/-r read them) of the sealed-data
	// object holding the envelope key, loadable under the SRK.
	Public  []byte `json:"public,omitempty"`
	Private []byte `json:"private"`
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
