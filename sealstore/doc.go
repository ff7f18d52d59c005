// Package sealstore keeps tpmfs's sealed objects on disk, one versioned
// file per object in the state directory, replaced atomically on every
// save.
//
// It stores and validates records; it must not talk to the TPM, encrypt,
// decrypt or interpret the sealed blobs, and it never logs: its errors
// carry the file path and what failed, and the caller decides what to log
// and which errno to give. The file format is documented in
// docs/state-format.md.
package sealstore
