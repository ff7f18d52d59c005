// Package tests holds the end-to-end tests: each mounts a real tpmfs, run
// as a subprocess, on swtpm or the simulator, drives it with cat, echo and
// tpm2-tools, and checks the results against independent computation.
package tests
