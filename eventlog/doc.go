// Package eventlog reads and writes measurement logs and replays them.
//
// It knows three formats: the TCG Canonical Event Log's JSON records
// (CEL-JSON) in a JSON text sequence (RFC 7464), the form of systemd's
// tpm2-measure.log and of tpmfs's own log (record.go, seq.go); the TCG PC
// Client binary log the firmware leaves and the kernel exports, in its
// crypto-agile form and in the SHA-1 form of TPM 1.2 (firmware.go); and
// the "tpmfs" content of tpmfs's records (content.go).
//
// Replay (replay.go) computes what the PCRs must hold after a log: every
// PCR starts at its PC Client reset value and is extended, bank by bank,
// with each record's digest for that bank.
//
// It is pure: it never touches a file or a TPM. Parsers take bytes that
// may be hostile and fail with an error naming the record and what is
// wrong in it; they never panic and bound every allocation by the input's
// size. Writers produce only what the parsers accept.
package eventlog
