// Package nv reads, writes, defines and undefines TPM 2.0 NV indices:
// the operations behind tpmfs's nv/ directory, by index type (ordinary,
// counter, bit field, extend), in chunks the TPM's NV buffer allows.
//
// Every access is authorised in one of two ways an index's attributes
// may allow, chosen by the caller: the owner hierarchy's secret (Owner),
// or the index's own auth value taken as empty (Index). Nothing else
// (platform, policy) is attempted.
//
// It drives a TPM given by the caller, who guarantees exclusive use for
// the duration of each call (so a check of the index's public area and
// the access that follows see the same index), leaves nothing loaded,
// and neither retries TPM warnings nor logs: errors wrap its sentinels
// or the TPM's response code.
package nv
