// Package faketpm is an in-memory stand-in for tpmcore.Core, for unit
// tests of the layers above it (vault, fs): PCRs that extend as a TPM's
// do, a random stream, and sealing bound to PCR values (given or
// current) and to signed PCR policies, with failures to inject, and EK
// certificates, attestation keys, quotes, credentials and NV indices of
// every type (attest.go, nv.go) for ek/, ak/ and nv/. It is no TPM:
// nothing it seals, signs or keeps is protected.
package faketpm
