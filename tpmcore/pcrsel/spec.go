package pcrsel

import (
	"bytes"
	"encoding/hex"
	"slices"
)

// Spec is a PCR selection in which some PCRs carry the value they are to
// have, given rather than read: a value predicted for the next boot. The
// zero value is the empty spec. Specs are values: nothing a caller holds
// aliases a Spec's own bytes.
type Spec struct {
	sel    Selection
	values []Value // sorted as sel.PCRs(); each PCR at most once
}

// Value is a PCR and the digest it has or is to have.
type Value struct {
	PCR
	Digest []byte
}

// ParseSpec reads Parse's syntax in which each listed index may carry the
// value the PCR is to have, in hex of exactly the bank's digest size
// (either case, optional 0x):
//
//	sha256:0,7=3d45…,11=0x9a…+sha1:16=…
//
// An index without a value stands for the value the PCR has when the
// data is sealed. A PCR with a value is listed once.
func ParseSpec(s string) (Spec, error) { return parse(s) }

// SpecOf is the spec of sel without any given value.
func SpecOf(sel Selection) Spec { return Spec{sel: sel} }

// Selection returns every PCR of the spec, with or without a value.
func (s Spec) Selection() Selection { return s.sel }

// IsEmpty reports whether the spec selects no PCR.
func (s Spec) IsEmpty() bool { return s.sel.IsEmpty() }

// Given returns the PCRs that carry a value.
func (s Spec) Given() Selection {
	var g Selection
	for _, v := range s.values {
		g.masks[slot(v.Bank.Alg)] |= 1 << v.Index
	}
	return g
}

// Value returns the value given for p, if one is.
func (s Spec) Value(p PCR) ([]byte, bool) {
	for _, v := range s.values {
		if v.PCR == p {
			return bytes.Clone(v.Digest), true
		}
	}
	return nil, false
}

// Values returns the given values, in the order of Selection().PCRs().
func (s Spec) Values() []Value {
	out := make([]Value, len(s.values))
	for i, v := range s.values {
		out[i] = Value{PCR: v.PCR, Digest: bytes.Clone(v.Digest)}
	}
	return out
}

// Equal reports whether s and o select the same PCRs with the same
// values.
func (s Spec) Equal(o Spec) bool {
	return s.sel == o.sel && slices.EqualFunc(s.values, o.values, func(a, b Value) bool {
		return a.PCR == b.PCR && bytes.Equal(a.Digest, b.Digest)
	})
}

// String returns the canonical form, which ParseSpec reads back to an
// equal Spec: Selection's canonical form with "=value" in lowercase hex
// after each index that has one ("sha1:0+sha256:0,7=3d45…").
func (s Spec) String() string {
	return s.sel.format(func(p PCR) string {
		if d, ok := s.Value(p); ok {
			return "=" + hex.EncodeToString(d)
		}
		return ""
	})
}

// sortValues puts values in Selection().PCRs() order: banks by algorithm
// id, then index.
func (s *Spec) sortValues() {
	slices.SortFunc(s.values, func(a, b Value) int {
		if d := slot(a.Bank.Alg) - slot(b.Bank.Alg); d != 0 {
			return d
		}
		return a.Index - b.Index
	})
}

// MaxSpecLen bounds the canonical form of any Spec: every PCR of every
// bank with a value is about 10 KiB.
const MaxSpecLen = 16 << 10
