package tests

import (
	"testing"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tddltest"
	"tpmfs/tddl/source"
)

// TestDeviceConformance runs tddl's conformance suite on the device
// backend, as tddl.TestConformance does on the others: these machines
// have no kernel TPM, so its device is a tpmfs mount's tpmrm0, which
// behaves like /dev/tpmrm0.
func TestDeviceConformance(t *testing.T) {
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	tddltest.Run(t, tddltest.Backend{
		Name:   "device",
		Config: source.Config{Kind: source.Device, Path: m.Path("tpmrm0")},
	})
}
