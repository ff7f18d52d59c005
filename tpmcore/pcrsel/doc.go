// Package pcrsel names PCR banks and parses, validates and prints PCR
// selections in tpm2-tools syntax ("sha1:0,1+sha256:7"), and specs: the
// same syntax in which a PCR may carry the value it is to have
// ("sha256:0,7=3d45…"), for sealing to a predicted state.
//
// It is the one place that maps bank names to TPM hash algorithms, digest
// sizes and Go hashes. It is pure: it never talks to a TPM, and it knows
// nothing of policies or sealing.
package pcrsel
