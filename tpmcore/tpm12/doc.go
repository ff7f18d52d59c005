// Package tpm12 drives a TPM 1.2 for tpmcore: it reads, extends and
// measures SHA-1 PCRs, draws random bytes, reports what the TPM is, and
// seals a short key to PCR values under the SRK; it must not keep state
// between calls, leave keys or authorization sessions loaded, or touch
// handles it did not create, so that a TSS (TrouSerS' tcsd) sharing the
// TPM through a passthrough is never disturbed.
//
// Every function takes a go-tpm transport.TPM whose exclusive use the
// caller guarantees for the duration of the call. Commands are built by
// go-tpm's legacy package github.com/google/go-tpm/tpm (OSAP/OIAP as it
// does them), except TPM_Seal, which go-tpm cannot bind to given PCR
// values (sealto.go packs it with tpmutil); this package adds what go-tpm
// lacks: response
// codes as Go errors (RC) classified into sentinels (ErrPolicy,
// ErrNotOwned, ErrAuth, ...), parsing of capability answers and sealed
// blobs, and the PCR composite digest a blob is bound to.
//
// Commands per call:
//
//	ReadPCR, Extend, Measure: 1.  Random: 1 per 128 bytes or fewer.
//	GetInfo: 5.  LoadedHandles, FlushSession, TickNonce: 1.  SealKey: 1 PCR_Read per PCR,
//	then SealKeyTo: OSAP, Seal, FlushSpecific.  UnsealKey: OSAP, OIAP, Unseal,
//	FlushSpecific x2.  A failed Seal or Unseal adds one GetCapability
//	(is there an owner?).
//
// The FlushSpecific calls hit sessions the TPM already ended (go-tpm
// sends continueAuthSession false) and fail harmlessly; they are what
// ends the sessions when a command fails before reaching the TPM.
package tpm12
