// Command tpmfs-bench measures what a tpmfs mount costs over talking to the
// same TPM directly with go-tpm, and prints the ratios against the project's
// targets; it is run by hand (as root) and must never run inside the normal
// test suite's time budget.
//
// For each backend (swtpm, the in-process simulator, or both) it runs the
// direct client, then the mount (the tpmfs daemon as a subprocess; this
// process only reads and writes its files), then the direct client again,
// to show drift. swtpm serves one client at a time, so the direct client
// and the daemon never run at once. With sim: the daemon's simulator lives
// in the daemon, so the direct baseline is a separate simulator inside this
// process.
//
//	go build -o /tmp/tpmfs ./cmd/tpmfs && go run ./cmd/tpmfs-bench -tpmfs /tmp/tpmfs
package main
