package tddl

import (
	"fmt"

	"tpmfs/internal/tpmwire"
)

// checkCommand rejects a command whose length is out of range or disagrees
// with its header size field, before any byte reaches the TPM: a TPM fed a
// wrong size would wait for more bytes or desynchronise the stream.
func checkCommand(cmd []byte) error {
	if err := tpmwire.Check(cmd); err != nil {
		return fmt.Errorf("command: %w: %w", ErrCommandSize, err)
	}
	return nil
}

// checkResponse accepts only a whole response: its size field must equal
// its length.
func checkResponse(rsp []byte) error {
	if err := tpmwire.Check(rsp); err != nil {
		return fmt.Errorf("response: %w: %w", ErrBadResponse, err)
	}
	return nil
}
