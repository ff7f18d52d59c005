// Package tddl is the device layer: it opens a TPM backend and moves one
// whole command in and one whole response out; it must not retry, queue or
// interpret TPM semantics.
//
// It knows bytes, not TPM commands: it checks only the header size fields
// of commands and responses (10 ≤ size ≤ MaxCommandSize). Callers
// serialise access (tpmcore does). Backends: a kernel character device
// (/dev/tpmrm0, /dev/tpm0; Linux and FreeBSD), the swtpm socket data
// channel (TCP or Unix; it redials after an I/O failure) and the in-process
// reference simulator (cgo only; one per process).
//
// Open turns a SOURCE, as package source parses it (tpm2-tools' TCTI
// syntax), into a TPM. tddl imports no package of tpmfs but that leaf and
// internal helpers, and it does not log.
package tddl
