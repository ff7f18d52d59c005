// Package sealstore keeps tpmfs's sealed objects on disk, one versioned
// file per object in the state directory, replaced atomically on every
// save.
//
// It trusts nothing it did not write: the state directory and every
// directory above it must be changeable only by root and tpmfs's own user
// (ErrUnsafe otherwise), every file is reached through the directory's
// descriptor without following symlinks, and a file that is not a regular
// file of tpmfs's user is neither listed nor loaded. Each object carries
// an identity that is never reused (Record.ID). Attestation keys are
// kept the same way, under store names of their own (AKName).
//
// It stores and validates records; it must not talk to the TPM, encrypt,
// decrypt or interpret the sealed blobs, and it never logs: its errors
// carry the file path and what failed, and the caller decides what to log
// and which errno to give. The file format is documented in
// docs/state-format.md.
package sealstore
