package sealing

import (
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// FuzzDecode feeds decode (the parser of stored objects) arbitrary
// selections and TPM blobs: it must not panic, and must reject anything it
// does not accept as ErrCorrupt.
func FuzzDecode(f *testing.F) {
	policy := make([]byte, 32)
	f.Add("", tpm2.Marshal(tpm2.New2B(sealedTemplate(nil))), []byte{0, 2, 1, 2}, []byte(nil))
	f.Add("sha256:0", tpm2.Marshal(tpm2.New2B(sealedTemplate(policy))), []byte{0, 0}, policy)
	f.Add("sha256:0,7", []byte{0, 1, 0}, []byte{0}, []byte{1})
	f.Fuzz(func(t *testing.T, sel string, pub, priv, policy []byte) {
		obj := &Object{Selection: sel, Policy: policy, Public: pub, Private: priv}
		if len(policy) == 32 {
			// Give the consistency check something to agree with.
			obj.PCRValues = []PCRValue{{Bank: "sha256", Index: 0, Digest: policy}}
		}
		d, err := decode(obj)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v is not ErrCorrupt", err)
			}
			return
		}
		if d.sel.String() != "" && len(obj.Policy) != 32 {
			t.Fatalf("accepted a bound object without a policy: %+v", obj)
		}
	})
}
