package tpm12

import (
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
)

// ResourceType is a TPM_RESOURCE_TYPE, a kind of handle.
type ResourceType uint32

// Resource types (TPM Main Part 2, section 4.1).
const (
	ResourceKey   ResourceType = 1 // TPM_RT_KEY: loaded keys
	ResourceAuth  ResourceType = 2 // TPM_RT_AUTH: OIAP/OSAP/DSAP sessions
	ResourceTrans ResourceType = 4 // TPM_RT_TRANS: transport sessions
)

// LoadedHandles lists the handles of one kind the TPM holds now
// (TPM_GetCapability TPM_CAP_HANDLE), whoever created them.
func LoadedHandles(t transport.TPM, rt ResourceType) ([]uint32, error) {
	b, err := getCap(t, capHandle, uint32(rt))
	if err != nil {
		return nil, err
	}
	hs, err := parseHandleList(b)
	if err != nil {
		return nil, fmt.Errorf("list handles of type %d: %w", rt, err)
	}
	return hs, nil
}
