package tpm12

import (
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"
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

// tagRQUCommand is TPM_TAG_RQU_COMMAND, a command without authorization.
const tagRQUCommand tpmutil.Tag = 0x00C1

// FlushSession ends the authorization session h (TPM_FlushSpecific,
// TPM_RT_AUTH). Only for a session the caller knows it started: handles
// of a TSS sharing the TPM are not the caller's to end.
func FlushSession(t transport.TPM, h uint32) error {
	op := fmt.Sprintf("flush session %#x", h)
	_, rc, err := tpmutil.RunCommand(newConn(t), tagRQUCommand, tpmutil.Command(ordFlushSpecific), h, uint32(ResourceAuth))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if rc != tpmutil.RCSuccess {
		return wrap(op, RC(rc), nil)
	}
	return nil
}
