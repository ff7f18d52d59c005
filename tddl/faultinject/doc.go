// Package faultinject wraps a tddl.TPM to inject transport faults (lost
// connections, delays, truncated or corrupted responses, endless
// TPM_RC_RETRY) for tests of the layers above; it is test tooling and must
// not be used to serve a real TPM.
package faultinject
