// Package latency wraps tddl.TPMs so that every command takes as long as
// it would on a modelled TPM (a discrete TPM on SPI, a firmware TPM),
// and counts what was sent; it is benchmark and test tooling and must not
// be used to serve a real TPM.
//
// The model is a table of milliseconds per command (profiles.tsv), read
// as data: each row names its source, and a value marked with "~" is
// interpolated, not measured. A few commands cost very different times
// by their parameters, and are priced by a variant read from the command
// bytes: StartAuthSession (unsalted, ECC-salted, RSA-salted, by the size
// of the encrypted salt), CreatePrimary, Create and CreateLoaded (by the
// type of the public area: ECC, RSA, or sealed data and other symmetric
// objects), Sign and Quote (by the signature scheme named in the command;
// the key's own scheme, TPM_ALG_NULL, is priced as ECC).
//
// A Model serves the commands of all the connections it wraps one at a
// time, as a TPM does: each Send holds the model while the inner TPM
// answers and then until the modelled time has passed since the command
// was taken. It keeps the count and the modelled time of every command
// kind, for callers that want to know what an operation cost.
package latency
