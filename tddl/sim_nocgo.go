//go:build !cgo

package tddl

import "fmt"

func openSim(stateDir string) (TPM, error) {
	return nil, fmt.Errorf("open sim: %w: the simulator needs cgo; rebuild with CGO_ENABLED=1", ErrNotBuiltIn)
}
