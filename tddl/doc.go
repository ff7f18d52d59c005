// Package tddl is the device layer: it opens a TPM backend and moves one
// whole command in and one whole response out.
//
// It knows bytes, not TPM semantics: no retries, no parsing beyond the
// response header's size field, no queueing. Callers serialise access
// (tpmcore does). Backends: a kernel character device (/dev/tpmrm0,
// /dev/tpm0), the swtpm socket data channel (TCP or Unix) and the
// in-process reference simulator (cgo only).
package tddl
