//go:build !linux && !freebsd

package tddl

import (
	"fmt"
	"runtime"
)

func openDevice(path string) (TPM, error) {
	return nil, fmt.Errorf("open device %s: %w: no TPM character device support on %s",
		path, ErrNotBuiltIn, runtime.GOOS)
}
