package tddl

import (
	"encoding/binary"
	"fmt"
)

// checkCommand rejects a command whose length is out of range or disagrees
// with its header size field, before any byte reaches the TPM: a TPM fed a
// wrong size would wait for more bytes or desynchronise the stream.
func checkCommand(cmd []byte) error {
	if len(cmd) < headerSize || len(cmd) > MaxCommandSize {
		return fmt.Errorf("command of %d bytes, want %d to %d: %w",
			len(cmd), headerSize, MaxCommandSize, ErrCommandSize)
	}
	if n := binary.BigEndian.Uint32(cmd[2:6]); n != uint32(len(cmd)) {
		return fmt.Errorf("command header says %d bytes but has %d: %w",
			n, len(cmd), ErrCommandSize)
	}
	return nil
}

// responseSize returns the size field of a response header after checking
// that it lies within what tddl accepts.
func responseSize(hdr []byte) (int, error) {
	if len(hdr) < headerSize {
		return 0, fmt.Errorf("response of %d bytes is shorter than a header: %w",
			len(hdr), ErrBadResponse)
	}
	n := binary.BigEndian.Uint32(hdr[2:6])
	if n < headerSize || n > MaxCommandSize {
		return 0, fmt.Errorf("response header says %d bytes, want %d to %d: %w",
			n, headerSize, MaxCommandSize, ErrBadResponse)
	}
	return int(n), nil
}

// checkResponse accepts only a whole response: its size field must equal
// its length.
func checkResponse(rsp []byte) error {
	n, err := responseSize(rsp)
	if err != nil {
		return err
	}
	if n != len(rsp) {
		return fmt.Errorf("response header says %d bytes but has %d: %w",
			n, len(rsp), ErrBadResponse)
	}
	return nil
}
