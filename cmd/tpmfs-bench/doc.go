// Command tpmfs-bench measures what a tpmfs mount costs over talking to the
// same TPM directly with go-tpm, and prints the ratios against the project's
// targets; it is run by hand (as root) and must never run inside the normal
// test suite's time budget.
//
// For each backend (swtpm, the in-process simulator, or both) the direct
// client and the mount take turns: direct, mount, direct, … (-rounds mount
// rounds), so that drift shows and both sides see the same machine. The
// tpmfs daemon is a subprocess: this process only reads and writes its
// files, it never serves them. swtpm serves one client at a time, so the
// direct client and the daemon never run at once. With sim: the daemon's
// simulator lives in the daemon, so the direct baseline is a separate
// simulator inside this process.
//
// With -tpm-profile dtpm (or ftpm) both sides talk to swtpm through one
// latency model (package tddl/latency) in a proxy inside this process:
// every command takes as long as on the modelled TPM, and the table is
// followed by the TPM commands each operation sent and their modelled
// time. The targets for a discrete TPM are judged then.
//
// Run it as root from the module, with swtpm and fuse3 installed
// (systemd-creds for the creds measurement):
//
//	go run ./cmd/tpmfs-bench [-backend swtpm|sim|both] [-tpm-profile dtpm|ftpm] [-duration 1s] [-rounds 3] [-only pcr,random,…]
package main
