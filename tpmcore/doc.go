// Package tpmcore is the multiplexing core: it owns the one connection to
// the TPM and offers typed operations (read a PCR, extend, measure, random,
// seal, unseal, raw commands) to any number of concurrent callers.
//
// Commands run one at a time in FIFO order through a single queue, each
// job on its caller's goroutine; the queue is where retries of
// TPM_RC_RETRY/YIELDED/TESTING, per-command timeouts and reconnection
// live. Callers above (fs) never see command bytes; tddl below never sees
// TPM semantics.
//
// A failing TPM (no answer within the command timeout, a broken connection
// or answer, retries without end) fails the operation that met it, and
// those waiting behind a slow failure with it; the change is logged once,
// and the next operation reconnects. What a failed or abandoned operation
// left loaded in the TPM is flushed before the next one runs, but for
// what the resource manager keeps there on purpose. A TPM that was reset
// behind a connection (it needed Startup, or its reset and restart
// counts moved) makes the manager and the Keeper forget what they had
// loaded.
//
// The TPM's family is detected once, at start, and is an implementation
// of one interface (family.go): Core checks every argument once and hands
// the operation to it, and nothing else asks which family the TPM is. On
// a TPM 2.0 PCR reads are batched, sealing runs on package sealing's
// Keeper, which keeps the storage root key and a salted session from one
// operation to the next, and raw clients get resource manager spaces
// (package rm); tpmcore's own keys live in the manager's internal space,
// so that one manager shares the TPM's slots among all. Attestation (EK
// certificates and keys, attestation keys under the Keeper's SRK, quotes,
// credential activation: package attest) and NV indices (package nv) are
// one queue job each. tpmcore's own operations are never held to the raw
// clients' command policy. On a TPM 1.2 the same typed operations run on
// package tpm12 (one bank, sha1), attestation and NV answer
// ErrUnsupported, and raw
// commands pass through unmanaged, one client at a time, so that a TSS
// can run on them beside tpmcore's own operations.
//
// With a Recorder (record.go; package measurelog), every Extend and
// Measure is recorded in the same queue job as it is made: the record is
// durable before the extend is sent and settled (kept or dropped) by
// what the PCR then holds, and a new boot of the TPM starts a new log.
//
// A raw Client has the write(2)/read(2) semantics of /dev/tpmrm0: its
// Write refuses an oversized, short or premature command with a sentinel
// (ErrCommandTooLarge, ErrInvalid, ErrResponseUnread) before anything
// reaches the TPM.
package tpmcore
