package sealing

import (
	"fmt"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
)

// Binding is what a sealed key is bound to besides the TPM that seals it.
type Binding struct {
	// PCRs are the PCRs whose values release the key: for each, the value
	// the spec gives it (one predicted for the next boot), or the value
	// it has when the key is sealed.
	PCRs pcrsel.Spec
	// AuthKey, if set, also binds the key to the PCR policies this key
	// signs (TPM 2.0 only): it opens in any PCR state one of them
	// describes, as systemd's signed policies for unified kernel images.
	AuthKey *pcrsig.Key
}

// Bind is the binding to the values the PCRs of sel have at seal time.
func Bind(sel pcrsel.Selection) Binding { return Binding{PCRs: pcrsel.SpecOf(sel)} }

// sealedValues returns the values b binds a key to, in selection order:
// the given ones, and for the others what read returns (the current
// values, read in one go).
func (b Binding) sealedValues(read func(pcrsel.Selection) ([]PCRValue, error)) ([]PCRValue, error) {
	sel := b.PCRs.Selection()
	var now []PCRValue
	if current := sel.Minus(b.PCRs.Given()); !current.IsEmpty() {
		var err error
		if now, err = read(current); err != nil {
			return nil, err
		}
	}
	byName := make(map[string][]byte, len(now))
	for _, v := range now {
		byName[v.String()] = v.Digest
	}
	out := make([]PCRValue, 0, sel.Len())
	for _, p := range sel.PCRs() {
		d, ok := b.PCRs.Value(p)
		if !ok {
			if d, ok = byName[p.String()]; !ok {
				return nil, fmt.Errorf("read PCRs %s: no value for %s", sel, p)
			}
		}
		out = append(out, PCRValue{Bank: p.Bank.Name, Index: p.Index, Digest: d})
	}
	return out, nil
}
