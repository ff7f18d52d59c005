package tddl

import (
	"fmt"
	"os"
	"strings"
)

// autoPaths are tried in order for KindAuto, as tpm2-tss's device TCTI
// does: the kernel resource manager first, then the raw device.
var autoPaths = []string{"/dev/tpmrm0", "/dev/tpm0"}

// Open connects to the backend cfg names. KindAuto (and KindDevice without
// a path) picks the first of /dev/tpmrm0 and /dev/tpm0 that exists. When
// the TPM cannot be reached (no device, connection refused) the error wraps
// ErrUnreachable and names the address.
func Open(cfg Config) (TPM, error) {
	switch cfg.Kind {
	case KindAuto:
		return openAuto()
	case KindDevice:
		if cfg.Path == "" {
			return openAuto()
		}
		return openDevice(cfg.Path)
	case KindSwtpm:
		return openSwtpm(cfg.withDefaults())
	case KindSim:
		return openSim(cfg.StateDir)
	}
	return nil, fmt.Errorf("open: %w: unknown backend %q", ErrBadSource, cfg.Kind)
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
