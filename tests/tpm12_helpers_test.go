package tests

import (
	"encoding/binary"
	"io"
	"os"
	"testing"
)

// rawPCRRead reads a PCR through tpmrm0 with a TPM_PCRRead built here
// (tag RQU_COMMAND, size 14, ordinal 0x15, index), independently of
// tpmfs's PCR code.
func rawPCRRead(t *testing.T, tpmrm0 string, idx int) []byte {
	t.Helper()
	f, err := os.OpenFile(tpmrm0, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := []byte{0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15}
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(idx))
	if _, err := f.Write(cmd); err != nil {
		t.Fatal(err)
	}
	rsp, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		t.Fatal(err)
	}
	// TPM_TAG_RSP_COMMAND, size 30, TPM_SUCCESS, 20 bytes of value.
	if len(rsp) != 30 || binary.BigEndian.Uint16(rsp) != 0xC4 || binary.BigEndian.Uint32(rsp[6:]) != 0 {
		t.Fatalf("TPM_PCRRead(%d) through tpmrm0: %x", idx, rsp)
	}
	return rsp[10:]
}
