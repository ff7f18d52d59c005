// Package swtpmtest starts and stops the TPMs tests need — swtpm
// instances (TPM 2.0 and 1.2) and TrouSerS' tcsd — and skips (or, under
// TPMFS_TEST_REQUIRE=1, fails) tests whose tools are missing; it holds no
// TPM logic. Tests use it, and so does tpmfs-bench, through Launch and
// EndProcess, which need no testing.TB.
//
// Every swtpm gets its own state directory and free ports (or Unix
// sockets), is stopped by its pid when the test ends (or the program
// calls Stop), and every wait on it is bounded.
package swtpmtest
