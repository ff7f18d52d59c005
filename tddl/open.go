package tddl

import (
	"fmt"
	"os"
	"strings"

	"tpmfs/tddl/source"
)

// autoPaths are tried in order for KindAuto, as tpm2-tss's device TCTI
// does: the kernel resource manager first, then the raw device.
var autoPaths = []string{"/dev/tpmrm0", "/dev/tpm0"}

// Open connects to the backend cfg names. source.Auto (and source.Device
// without a path) picks the first of /dev/tpmrm0 and /dev/tpm0 that
// exists. When the TPM cannot be reached (no device, connection refused)
// the error wraps ErrUnreachable and names the address.
func Open(cfg source.Config) (TPM, error) {
	switch cfg.Kind {
	case source.Auto:
		return openAuto()
	case source.Device:
		if cfg.Path == "" {
			return openAuto()
		}
		return openDevice(cfg.Path)
	case source.Swtpm:
		return openSwtpm(cfg.WithDefaults())
	case source.Sim:
		return openSim(cfg.StateDir)
	}
	return nil, fmt.Errorf("open: %w: unknown backend %q", source.ErrBad, cfg.Kind)
}

func openAuto() (TPM, error) {
	for _, p := range autoPaths {
		if _, err := os.Stat(p); err == nil {
			return openDevice(p)
		}
	}
	return nil, fmt.Errorf("open auto: no TPM device (tried %s): %w",
		strings.Join(autoPaths, ", "), ErrUnreachable)
}
