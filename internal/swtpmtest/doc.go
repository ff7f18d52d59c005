// Package swtpmtest starts and stops swtpm instances for tests, and skips
// (or, under TPMFS_TEST_REQUIRE=1, fails) tests whose tools are missing;
// it holds no TPM logic and is imported only by tests.
//
// Every swtpm gets its own state directory and free ports (or Unix
// sockets), is stopped by its pid when the test ends, and every wait on
// it is bounded.
package swtpmtest
