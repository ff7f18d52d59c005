package tddl_test

import (
	"os"
	"testing"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tddltest"
	"tpmfs/tddl/source"
)

// TestConformance runs the one suite (package tddltest) on every backend
// this machine has. The device backend runs here on a kernel TPM (or the
// device TPMFS_TEST_DEVICE names); where there is none, the end-to-end
// test TestDeviceConformance runs it on a tpmfs mount's tpmrm0.
func TestConformance(t *testing.T) {
	t.Run("sim", func(t *testing.T) {
		tddltest.Run(t, tddltest.Backend{Name: "sim", Config: source.Config{Kind: source.Sim}})
	})
	t.Run("swtpm-tcp", func(t *testing.T) {
		p := swtpmtest.Start(t)
		cfg := mustParse(t, p.Source())
		tddltest.Run(t, tddltest.Backend{Name: "swtpm-tcp", Config: cfg, Swtpm: p, Deadline: true})
	})
	t.Run("swtpm-unix", func(t *testing.T) {
		p := swtpmtest.StartWith(t, swtpmtest.Options{Unix: true})
		cfg := mustParse(t, p.Source())
		tddltest.Run(t, tddltest.Backend{Name: "swtpm-unix", Config: cfg, Swtpm: p, Deadline: true})
	})
	path := os.Getenv("TPMFS_TEST_DEVICE")
	if path == "" {
		path = "/dev/tpmrm0"
	}
	if _, err := os.Stat(path); err != nil {
		t.Logf("device: not applicable here (%v); tests.TestDeviceConformance runs the suite on tpmfs's tpmrm0", err)
		return
	}
	t.Run("device", func(t *testing.T) {
		tddltest.Run(t, tddltest.Backend{Name: "device", Config: source.Config{Kind: source.Device, Path: path}})
	})
}

func mustParse(t *testing.T, s string) source.Config {
	t.Helper()
	cfg, err := source.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
