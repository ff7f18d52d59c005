// Package sealing seals secrets to a TPM, optionally bound to PCR values,
// and unseals them: envelope encryption whose key is a TPM sealed-data
// object under the owner hierarchy's ECC P-256 storage root key.
//
// It drives a TPM given by the caller, who guarantees exclusive use for the
// duration of each call, and leaves no transient object or session behind,
// on success or error (short of the transport itself failing mid-call),
// but what a Keeper keeps on purpose: its SRK and session. It
// does not store objects, choose names, retry TPM warnings (tpmcore's queue
// does) or log; callers get errors that work with errors.Is (ErrPolicy,
// ErrWrongTPM, ErrCorrupt, ...) and a *PolicyError naming the PCRs that
// differ.
//
// The format: a fresh 256-bit key encrypts the secret with AES-256-GCM,
// the associated data being "tpmfs/seal/v1" NUL object-name, so a blob
// copied to another name does not open. The key is the sensitive data of a
// KEYEDHASH object (fixedTPM, fixedParent, noDA) created under a storage
// root key of the ECC P-256 SRK template: the persistent key at
// 0x81000001 if it is one, else the template primary of the owner
// hierarchy, never made persistent. The object records that key's name
// (Parent) and opens under whichever of the two has it. Its policy
// (Binding):
//
//   - none: userWithAuth and an empty auth value;
//   - PCRs: PolicyPCR over SHA-256, exactly as tpm2_createpolicy
//     --policy-pcr computes it, over the values the spec gives (predicted
//     ones, as with -f) or, for PCRs without one, their values at seal time;
//   - an authkey: PolicyAuthorize by that key (named as systemd and
//     tpm2_loadexternal name a PEM key), then PolicyPCR as above if PCRs
//     are bound too. It opens in any PCR state a policy signed by the key
//     describes (systemd-measure sign's JSON, package pcrsig): Unseal
//     picks the sha256-bank policy the PCRs now satisfy, has the TPM
//     verify its signature, and runs PolicyPCR and PolicyAuthorize.
//
// The key travels to and from the TPM only in a session salted to the SRK
// with AES-128-CFB parameter encryption, so it is never on the bus in the
// clear; the policy session that authorizes it needs no salt.
//
// A Keeper keeps the SRK and that session from one operation to the next
// (keeper.go); the one-shot functions (Seal, Unseal, Reseal, Inspect,
// CheckSRK, WithSRK) make them and flush them each time.
//
// On a TPM 1.2 (Seal12, Unseal12, Reseal12; Object.Family "1.2") the
// envelope is the same; the key is sealed with TPM_Seal under the SRK
// (package tpm12), bound to sha1 PCRs by their PCR composite digest (of
// given or current values, the blob's digestAtRelease), which is then the
// object's Policy. A TPM 1.2 has no signed policies.
//
// Other objects kept under the same SRK (package attest's attestation
// keys) get it through WithSRK, the one place that decides how the SRK
// is come by: on a transport from Keep, the Keeper's kept one.
//
// TPM 2.0 commands per call (count them with a counting transport;
// commands_test.go pins them):
//
//	Keeper, warm (key and session kept):
//	  Seal:   PCR_Read (one per 8 PCRs or so; none without PCRs or when
//	          every value is given), Create.
//	  Unseal: Load, StartAuthSession (an unsalted policy session) and
//	          PolicyPCR (both only with PCRs), Unseal, FlushContext:
//	          5 with PCRs, 3 without. With an authkey, before
//	          StartAuthSession: PCR_Read (the signed policies' PCRs),
//	          LoadExternal, VerifySignature, FlushContext; after it
//	          PolicyPCR, PolicyAuthorize (then PolicyPCR for bound PCRs).
//	  Inspect: PCR_Reads (bound PCRs, then the signed policies' PCRs);
//	          Load and FlushContext for an object that does not record
//	          its parent.
//	Keeper, cold: first ReadPublic of 0x81000001 and, without a persistent
//	  SRK there, CreatePrimary; then StartAuthSession (salted), once.
//	One-shot: the cold path, then FlushContext of the session and of the
//	  template primary.
//	Each TPM_RC_PCR_CHANGED retry adds StartAuthSession, PolicyPCR, Unseal
//	and a FlushContext; a policy failure adds the PCR_Reads that find the
//	differing PCRs. Reseal is an Unseal and a Seal in one call.
package sealing
