// Package source parses SOURCE, the TPM a tpmfs mount talks to, in the
// TCTI syntax tpm2-tools users know (device:/dev/tpm0, swtpm:host=H,port=P,
// sim:state=DIR, ...), into a Config for tddl.Open, and prints a Config
// back in its canonical form.
//
// It is a leaf: pure, with no dependency beyond the standard library, so
// that the option parser (mountopts) uses it without linking the device
// layer. It checks syntax only; whether the TPM is there is tddl's
// business.
package source
