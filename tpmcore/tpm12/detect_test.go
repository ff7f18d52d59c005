package tpm12

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/swtpmtest"
)

// TestIsTPM12Response sends a TPM 2.0 command to a real TPM 1.2 and to a
// real TPM 2.0, and checks the answers tell them apart.
func TestIsTPM12Response(t *testing.T) {
	tr12 := startSwtpm12(t, owned)
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(tr12); err == nil {
		t.Fatal("TPM 1.2 answered TPM2_GetRandom without error")
	}
	if !IsTPM12Response(tr12.last) {
		t.Fatalf("TPM 1.2 response %x not recognised", tr12.last)
	}
	// TPM_BADTAG on most chips; libtpms says TPM_BAD_ORDINAL.
	if rc := binary.BigEndian.Uint32(tr12.last[6:]); rc == 0 {
		t.Errorf("TPM 1.2 answered TPM 2.0 command with success")
	}

	tr20 := &tcpTPM{sw: swtpmtest.Start(t)}
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(tr20); err != nil {
		t.Fatal(err)
	}
	if IsTPM12Response(tr20.last) {
		t.Fatalf("TPM 2.0 response %x taken for TPM 1.2", tr20.last)
	}
	for _, short := range [][]byte{nil, {0, 0xC4}, tr12.last[:9]} {
		if IsTPM12Response(short) {
			t.Errorf("IsTPM12Response(%x) = true for a short response", short)
		}
	}
}
