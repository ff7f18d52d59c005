// Package tpmcore is the multiplexing core: it owns the one connection to
// the TPM and offers typed operations (read a PCR, extend, measure, random,
// seal, unseal, raw commands) to any number of concurrent callers.
//
// Commands run one at a time in FIFO order through a single queue; the
// queue is where retries of TPM_RC_RETRY/YIELDED/TESTING, per-command
// timeouts and reconnection live. Callers above (fs) never see command
// bytes; tddl below never sees TPM semantics.
package tpmcore
