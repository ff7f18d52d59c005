package pcrsel

import (
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// TestBanks checks the table against go-tpm's own algorithm-to-hash mapping
// and Go's digest sizes, and the TPM 2.0 algorithm registry ids.
func TestBanks(t *testing.T) {
	registry := map[string]uint16{ // TCG Algorithm Registry
		"sha1": 0x0004, "sha256": 0x000B, "sha384": 0x000C, "sha512": 0x000D, "sm3_256": 0x0012,
	}
	all := Banks()
	if len(all) != len(registry) {
		t.Fatalf("Banks() has %d banks, want %d", len(all), len(registry))
	}
	for i, b := range all {
		if i > 0 && all[i-1].Alg >= b.Alg {
			t.Errorf("Banks() not sorted by algorithm id at %s", b.Name)
		}
		if id, ok := registry[b.Name]; !ok || uint16(b.Alg) != id {
			t.Errorf("bank %s has alg 0x%04x, registry says 0x%04x", b.Name, uint16(b.Alg), id)
		}
		if b.Name == "sm3_256" {
			if b.Hash != 0 || b.Size != 32 {
				t.Errorf("sm3_256: Hash %v Size %d", b.Hash, b.Size)
			}
		} else {
			h, err := tpm2.TPMIAlgHash(b.Alg).Hash()
			if err != nil || h != b.Hash {
				t.Errorf("bank %s: Hash %v, go-tpm says %v (%v)", b.Name, b.Hash, h, err)
			}
			if got := len(b.Hash.New().Sum(nil)); got != b.Size {
				t.Errorf("bank %s: Size %d, digest is %d bytes", b.Name, b.Size, got)
			}
		}
		if got, ok := BankByName(b.Name); !ok || got != b {
			t.Errorf("BankByName(%q) = %v, %v", b.Name, got, ok)
		}
		if got, ok := BankByAlg(b.Alg); !ok || got != b {
			t.Errorf("BankByAlg(0x%x) = %v, %v", uint16(b.Alg), got, ok)
		}
	}
	if _, ok := BankByName("md5"); ok {
		t.Error("BankByName(md5) found a bank")
	}
	if _, ok := BankByAlg(tpm2.TPMAlgSHA3256); ok {
		t.Error("BankByAlg(sha3_256) found a bank")
	}
	all[0] = Bank{}
	if Banks()[0] != SHA1 {
		t.Error("Banks() returns the package's own table")
	}
}
