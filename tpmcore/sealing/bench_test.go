package sealing

import (
	"testing"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tpmcore/pcrsel"
)

// BenchmarkUnseal times an unseal on swtpm for each kind of binding, and
// Inspect (what seal/NAME/status costs): the signed policy adds a PCR
// read, LoadExternal, VerifySignature and PolicyAuthorize to PolicyPCR's
// unseal. go test -bench Unseal -run '^$' ./tpmcore/sealing
func BenchmarkUnseal(b *testing.B) {
	tpm := swtpmtest.Start(b).Dial(b)
	s := testSigner(b, "rsa")
	sel11 := mustParseB(b, "sha256:11")
	sigs := s.set(b, map[string][]string{"sha256": {s.entry(b, sel11, policyNow(b, tpm, sel11))}})
	bindings := []struct {
		name string
		b    Binding
	}{
		{"none", Binding{}},
		{"pcrs", Bind(mustParseB(b, "sha256:0,7"))},
		{"signed", Binding{AuthKey: s.key}},
	}
	for _, bc := range bindings {
		obj, err := Seal(tpm, nil, "bench", bc.b, make([]byte, 32))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Unseal(tpm, nil, "bench", obj, sigs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("inspect-"+bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Inspect(tpm, nil, bc.b, obj, sigs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustParseB(b *testing.B, s string) pcrsel.Selection {
	sel, err := pcrsel.Parse(s)
	if err != nil {
		b.Fatal(err)
	}
	return sel
}

// policyNow is the PolicyPCR digest of sel at the PCRs' current values.
func policyNow(b *testing.B, tpm transport.TPM, sel pcrsel.Selection) []byte {
	vals, err := readPCRs(tpm, sel)
	if err != nil {
		b.Fatal(err)
	}
	d, err := PolicyDigest(sel, vals)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
