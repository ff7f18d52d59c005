package cmdpolicy

import (
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport/simulator"
)

// TestTableCoversReferenceTPM: every command the reference TPM implements
// has an entry, so none of them is refused only for being unknown.
func TestTableCoversReferenceTPM(t *testing.T) {
	tpm, err := simulator.OpenSimulator()
	if err != nil {
		t.Fatalf("open simulator: %v", err)
	}
	defer tpm.Close()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapCommands, Property: uint32(tpm2.TPMCCNVUndefineSpaceSpecial), PropertyCount: 1024}.Execute(tpm)
	if err != nil {
		t.Fatalf("GetCapability(commands): %v", err)
	}
	list, err := rsp.CapabilityData.Data.Command()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.CommandAttributes) < 50 || rsp.MoreData {
		t.Fatalf("%d commands, moreData %v: not the whole list", len(list.CommandAttributes), rsp.MoreData)
	}
	t.Logf("the reference TPM has %d commands", len(list.CommandAttributes))
	for _, a := range list.CommandAttributes {
		code := uint32(a.CommandIndex)
		if a.V {
			code |= 1 << 29
		}
		if _, ok := table[code]; !ok {
			t.Errorf("the reference TPM has command 0x%x, which the table lacks", code)
		}
	}
}
