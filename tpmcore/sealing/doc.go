// Package sealing seals secrets to a TPM, optionally bound to PCR values,
// and unseals them: envelope encryption whose key is a TPM sealed-data
// object under the owner hierarchy's ECC P-256 storage root key.
//
// It drives a TPM given by the caller, who guarantees exclusive use for the
// duration of each call, and leaves no transient object or session behind,
// on success or error (short of the transport itself failing mid-call). It
// does not store objects, choose names, retry TPM warnings (tpmcore's queue
// does) or log; callers get errors that work with errors.Is (ErrPolicy,
// ErrWrongTPM, ErrCorrupt, ...) and a *PolicyError naming the PCRs that
// differ.
//
// The format: a fresh 256-bit key encrypts the secret with AES-256-GCM,
// the associated data being "tpmfs/seal/v1" NUL object-name, so a blob
// copied to another name does not open. The key is the sensitive data of a
// KEYEDHASH object (fixedTPM, fixedParent, noDA; userWithAuth and an empty
// auth value only without PCRs, else a PolicyPCR policy over SHA-256
// exactly as tpm2_createpolicy --policy-pcr computes it) created under the
// TCG template SRK, which is re-created on demand and never persisted. The
// key travels to and from the TPM only in sessions salted to the SRK with
// AES-128-CFB parameter encryption, so it is never on the bus in the clear.
//
// On a TPM 1.2 (Seal12, Unseal12, Reseal12; Object.Family "1.2") the
// envelope is the same; the key is sealed with TPM_Seal under the SRK
// (package tpm12), bound to sha1 PCRs by their PCR composite digest,
// which is then the object's Policy.
//
// Other objects kept under the same SRK (package attest's attestation
// keys) get it through WithSRK, the one place that decides how the SRK
// is come by.
//
// TPM 2.0 commands per call (count them with a counting transport):
//
//	Seal:   CreatePrimary, PCR_Read (one per 8 PCRs or so; none without
//	        PCRs), StartAuthSession, Create, FlushContext: 5 with PCRs, 4 without.
//	Unseal: CreatePrimary, Load, StartAuthSession, PolicyPCR (only with
//	        PCRs), Unseal, FlushContext x2: 7 with PCRs, 6 without.
//	        Each TPM_RC_PCR_CHANGED retry adds StartAuthSession, PolicyPCR,
//	        Unseal, FlushContext; a policy failure adds a FlushContext and
//	        the PCR_Reads that find the differing PCRs.
//	Reseal: an Unseal and a Seal sharing one CreatePrimary.
package sealing
