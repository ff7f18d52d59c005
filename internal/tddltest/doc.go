// Package tddltest is the conformance suite every tddl backend passes:
// whole commands and responses, TPM errors as responses, size checks
// before anything is sent, Close, deadlines where the backend has them,
// and reconnection to a restarted swtpm. tddl's own tests run it on the
// simulator and swtpm; the end-to-end tests run it on the device backend
// over a tpmfs mount's tpmrm0, since test machines have no kernel TPM.
//
// It holds test code only and is imported only by tests.
package tddltest
