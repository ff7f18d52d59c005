package pcrsel

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2"
)

// NumPCRs is the number of PCRs per bank a PC Client TPM has (0..23).
const NumPCRs = 24

// selectBytes is the sizeofSelect tpm2-tools and the PC Client profile use:
// the TPM needs at least enough bytes to cover all its PCRs, and policy
// digests depend on it, so it is fixed rather than minimal.
const selectBytes = NumPCRs / 8

// ErrInvalid is wrapped by every error about a malformed selection.
var ErrInvalid = errors.New("invalid PCR selection")

// PCR names one PCR: a bank and an index.
type PCR struct {
	Bank  Bank
	Index int
}

// String returns the PCR in selection syntax: "sha256:7".
func (p PCR) String() string { return p.Bank.Name + ":" + strconv.Itoa(p.Index) }

// Selection is a set of PCRs over one or more banks. The zero value is the
// empty selection. Selections are comparable with ==, and their banks and
// indices always come out sorted (banks by algorithm id) and without
// duplicates: one bit per PCR.
type Selection struct {
	masks [len(banks)]uint32 // bit i of masks[k]: PCR i of banks[k]
}

// Of returns the selection of the given PCRs; a bank is identified by its
// algorithm.
func Of(pcrs ...PCR) (Selection, error) {
	var s Selection
	for _, p := range pcrs {
		k := slot(p.Bank.Alg)
		if k < 0 {
			return Selection{}, fmt.Errorf("%w: unknown bank %q", ErrInvalid, p.Bank.Name)
		}
		if p.Index < 0 || p.Index >= NumPCRs {
			return Selection{}, fmt.Errorf("%w: PCR %d out of range 0-%d", ErrInvalid, p.Index, NumPCRs-1)
		}
		s.masks[k] |= 1 << p.Index
	}
	return s, nil
}

// IsEmpty reports whether no PCR is selected.
func (s Selection) IsEmpty() bool { return s == Selection{} }

// Len returns the number of PCRs selected, over all banks.
func (s Selection) Len() int {
	n := 0
	for _, m := range s.masks {
		n += bits.OnesCount32(m)
	}
	return n
}

// Has reports whether p is selected.
func (s Selection) Has(p PCR) bool {
	k := slot(p.Bank.Alg)
	return k >= 0 && p.Index >= 0 && p.Index < NumPCRs && s.masks[k]&(1<<p.Index) != 0
}

// Minus returns the PCRs of s that are not in o.
func (s Selection) Minus(o Selection) Selection {
	for k := range s.masks {
		s.masks[k] &^= o.masks[k]
	}
	return s
}

// Banks returns the banks with at least one PCR selected, sorted by
// algorithm id.
func (s Selection) Banks() []Bank {
	var out []Bank
	for k, m := range s.masks {
		if m != 0 {
			out = append(out, banks[k])
		}
	}
	return out
}

// Indices returns the selected PCR indices of bank b, ascending.
func (s Selection) Indices(b Bank) []int {
	k := slot(b.Alg)
	if k < 0 {
		return nil
	}
	return indices(s.masks[k])
}

// PCRs lists the selected PCRs in the order a TPM concatenates their values
// for PCR_Read and PolicyPCR of TPML(): banks by algorithm id, then index.
func (s Selection) PCRs() []PCR {
	var out []PCR
	for k, m := range s.masks {
		for _, i := range indices(m) {
			out = append(out, PCR{banks[k], i})
		}
	}
	return out
}

// String returns the canonical tpm2-tools form, which Parse reads back to
// an equal Selection: banks by algorithm id joined with "+", decimal
// indices ascending ("sha1:0+sha256:0,7"); "" for the empty selection.
func (s Selection) String() string { return s.format(func(PCR) string { return "" }) }

// format writes the canonical form with suffix(p) after each PCR p.
func (s Selection) format(suffix func(PCR) string) string {
	var parts []string
	for k, m := range s.masks {
		if m == 0 {
			continue
		}
		var b strings.Builder
		b.WriteString(banks[k].Name)
		for n, i := range indices(m) {
			if n == 0 {
				b.WriteByte(':')
			} else {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(i))
			b.WriteString(suffix(PCR{banks[k], i}))
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "+")
}

// TPML returns the selection as the TPM takes it: one entry per bank with
// PCRs, sorted by algorithm id, each with a 3-byte bitmap as tpm2-tools
// builds it (so that policy digests agree with tpm2_createpolicy).
func (s Selection) TPML() tpm2.TPMLPCRSelection {
	var l tpm2.TPMLPCRSelection
	for k, m := range s.masks {
		if m == 0 {
			continue
		}
		bitmap := make([]byte, selectBytes)
		for i := range bitmap {
			bitmap[i] = byte(m >> (8 * i))
		}
		l.PCRSelections = append(l.PCRSelections, tpm2.TPMSPCRSelection{
			Hash:      banks[k].Alg,
			PCRSelect: bitmap,
		})
	}
	return l
}

// ListTPML returns the PCRs a TPML_PCR_SELECTION (such as PCR_Read's
// pcrSelectionOut) selects, in the order the TPM lists their values: entry
// by entry, then by index. Unknown banks and indices past NumPCRs are
// errors.
func ListTPML(l tpm2.TPMLPCRSelection) ([]PCR, error) {
	var out []PCR
	for _, e := range l.PCRSelections {
		b, ok := BankByAlg(e.Hash)
		if !ok {
			return nil, fmt.Errorf("%w: unknown bank algorithm 0x%04x", ErrInvalid, uint16(e.Hash))
		}
		for byteIdx, v := range e.PCRSelect {
			for bit := 0; bit < 8; bit++ {
				if v&(1<<bit) == 0 {
					continue
				}
				i := 8*byteIdx + bit
				if i >= NumPCRs {
					return nil, fmt.Errorf("%w: %s PCR %d out of range 0-%d", ErrInvalid, b.Name, i, NumPCRs-1)
				}
				out = append(out, PCR{b, i})
			}
		}
	}
	return out, nil
}

func indices(m uint32) []int {
	var out []int
	for m != 0 {
		i := bits.TrailingZeros32(m)
		out = append(out, i)
		m &^= 1 << i
	}
	return out
}
