// Package fs presents a TPM as a tree of files over FUSE: info, random,
// pcrs/, seal/, tpmrm0, eventlog/ and, on a TPM 2.0, ek/, ak/ and nv/.
//
// It maps file operations to calls of the small interfaces it declares
// (backend.go: the TPM, a raw client, the sealed-object and
// attestation-key services, EK certificates, NV indices, the event logs)
// and errors to errno (errno.go is the only place that does). It holds no
// TPM logic and no object lifecycle of its own: it never sees command
// bytes, handles or response codes except to log them, sealed objects'
// identity, locks, quotas and commits are the vault's, and the logs'
// formats and files are measurelog's. The tree's nodes cannot be removed
// or renamed through the mount.
package fs
