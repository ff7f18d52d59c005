// Package attest is what a TPM 2.0 needs to prove its state to a
// verifier: the endorsement key (EK) of the TCG EK Credential Profile
// (its certificates' NV indices and the templates that re-create the key
// they certify), attestation keys (AKs: restricted signing keys under the
// storage root key), quotes of PCR values signed by an AK, and the
// credential activation through which a verifier learns that an AK lives
// in the TPM that owns an EK.
//
// Formats are those of the tools verifiers use: the quote's TPMS_ATTEST
// and TPMT_SIGNATURE as tpm2_quote writes them, the PCR values in
// tpm2-tools' serialized form (tpm2_quote -o, tpm2_checkquote -f), the
// keylime agent's quote string, and tpm2_makecredential's credential
// file.
//
// Like package sealing, it drives a TPM given by the caller, who
// guarantees exclusive use for each call; it leaves no object or session
// loaded, on success or error, and it neither retries TPM warnings nor
// logs. Its parent key is the storage root key that sealing.WithSRK
// provides.
package attest
