package swtpmtest

import (
	"os"
	"os/exec"
	"testing"
)

// requireEnv names the variable that turns a skip for a missing tool into
// a failure, so that CI cannot pass by skipping.
const requireEnv = "TPMFS_TEST_REQUIRE"

// Required reports whether TPMFS_TEST_REQUIRE=1 demands that every test
// run.
func Required() bool { return os.Getenv(requireEnv) == "1" }

// SkipOrFail skips the test, or fails it when TPMFS_TEST_REQUIRE=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf(format+" (TPMFS_TEST_REQUIRE=1)", args...)
	}
	t.Skipf(format, args...)
}

// Require skips the test (or fails it, see SkipOrFail) unless every tool
// is on PATH.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			SkipOrFail(t, "%s not installed: %v", tool, err)
		}
	}
}
