package pcrsel

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2"
)

// Parse reads a PCR selection in tpm2-tools syntax:
//
//	BANK:LIST[+BANK:LIST...]
//
// BANK is a bank name (sha1, sha256, sha384, sha512, sm3_256) or its
// algorithm id (0xb, 11). LIST is "all" (PCRs 0-23), "none", or
// comma-separated indices 0-23, decimal or 0x-hex, and ranges of them
// ("0-7", as quote requests write them); repeated indices count once. Space around the whole string and around each part is ignored, as
// the string usually comes from echo. An empty string is the empty
// selection. A bank named twice is an error. Names and keywords are read
// in any case; String gives the canonical form.
//
// Where tpm2-tools reads an index with a leading zero as octal ("010" is
// 8), Parse accepts a leading zero only when both readings agree ("07"),
// so that Parse never means something else than tpm2-tools does.
//
// A value given for a PCR ("sha256:7=HEX") is an error here; ParseSpec
// reads those.
func Parse(s string) (Selection, error) {
	spec, err := parse(s)
	if err != nil {
		return Selection{}, err
	}
	if len(spec.values) > 0 {
		return Selection{}, fmt.Errorf("%w: %q: a PCR value (=HEX) is not allowed here", ErrInvalid, strings.TrimSpace(s))
	}
	return spec.sel, nil
}

// parse reads Parse's syntax in which each index may carry a value,
// "INDEX=HEX" (see ParseSpec).
func parse(s string) (Spec, error) {
	var spec Spec
	s = strings.TrimSpace(s)
	if s == "" {
		return spec, nil
	}
	var seen [len(banks)]bool
	for _, part := range strings.Split(s, "+") {
		part = strings.TrimSpace(part)
		name, list, ok := strings.Cut(part, ":")
		if !ok {
			return Spec{}, fmt.Errorf("%w: %q: want BANK:PCR[,PCR...]", ErrInvalid, part)
		}
		b, err := parseBank(strings.TrimSpace(name))
		if err != nil {
			return Spec{}, fmt.Errorf("%w: %q: %v", ErrInvalid, part, err)
		}
		k := slot(b.Alg)
		if seen[k] {
			return Spec{}, fmt.Errorf("%w: bank %s selected twice", ErrInvalid, b.Name)
		}
		seen[k] = true
		m, vals, err := parseList(b, strings.TrimSpace(list))
		if err != nil {
			return Spec{}, fmt.Errorf("%w: %q: %v", ErrInvalid, part, err)
		}
		spec.sel.masks[k] = m
		spec.values = append(spec.values, vals...)
	}
	spec.sortValues()
	return spec, nil
}

// parseBank accepts a bank name or its algorithm id as a number.
func parseBank(s string) (Bank, error) {
	if b, ok := BankByName(s); ok {
		return b, nil
	}
	if n, err := parseNumber(s, 0xffff); err == nil {
		if b, ok := BankByAlg(tpm2.TPMAlgID(n)); ok {
			return b, nil
		}
	}
	if s == "" {
		return Bank{}, fmt.Errorf("missing bank name")
	}
	return Bank{}, fmt.Errorf("unknown bank %q (want sha1, sha256, sha384, sha512 or sm3_256)", s)
}

// parseList reads "all", "none" or comma-separated PCR indices and ranges
// of bank b, each index perhaps with a value ("7=HEX"), into a mask and
// the values given.
func parseList(b Bank, s string) (uint32, []Value, error) {
	switch strings.ToLower(s) {
	case "all":
		return 1<<NumPCRs - 1, nil, nil
	case "none":
		return 0, nil, nil
	case "":
		return 0, nil, fmt.Errorf("no PCR listed")
	}
	var m, valued uint32
	var vals []Value
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		idx, hexValue, hasValue := strings.Cut(tok, "=")
		idx = strings.TrimSpace(idx)
		if idx == "" {
			return 0, nil, fmt.Errorf("empty PCR index")
		}
		lo, hi, isRange := strings.Cut(idx, "-")
		if !isRange {
			hi = lo
		}
		first, err := parseNumber(strings.TrimSpace(lo), NumPCRs-1)
		if err != nil {
			return 0, nil, fmt.Errorf("PCR %q: %v", idx, err)
		}
		last, err := parseNumber(strings.TrimSpace(hi), NumPCRs-1)
		if err != nil {
			return 0, nil, fmt.Errorf("PCR %q: %v", idx, err)
		}
		if last < first {
			return 0, nil, fmt.Errorf("PCR range %q: runs backwards", idx)
		}
		if hasValue && isRange {
			return 0, nil, fmt.Errorf("PCR range %q: a value is for one PCR", idx)
		}
		for n := first; n <= last; n++ {
			bit := uint32(1) << n
			// A PCR with a value may be listed once: "7,7=…" or
			// "7=…,7=…" leave in doubt which value it is to have.
			if (hasValue || valued&bit != 0) && m&bit != 0 {
				return 0, nil, fmt.Errorf("PCR %d listed twice with a value", n)
			}
			m |= bit
		}
		if !hasValue {
			continue
		}
		d, err := parseDigest(b, strings.TrimSpace(hexValue))
		if err != nil {
			return 0, nil, fmt.Errorf("PCR %d: %v", first, err)
		}
		valued |= 1 << first
		vals = append(vals, Value{PCR: PCR{b, int(first)}, Digest: d})
	}
	return m, vals, nil
}

// parseDigest reads a value of bank b: exactly its digest size in hex,
// either case, with an optional 0x.
func parseDigest(b Bank, s string) ([]byte, error) {
	h := s
	if len(h) >= 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X') {
		h = h[2:]
	}
	if len(h) != 2*b.Size {
		return nil, fmt.Errorf("value %q: want %d hex digits (a %s digest)", s, 2*b.Size, b.Name)
	}
	d, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("value %q: not hex", s)
	}
	return d, nil
}

// parseNumber reads a decimal or 0x-hex number no larger than max.
func parseNumber(s string, max uint64) (uint64, error) {
	var n uint64
	var err error
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		n, err = strconv.ParseUint(s[2:], 16, 64)
	case len(s) > 0 && s[0] >= '0' && s[0] <= '9':
		n, err = strconv.ParseUint(s, 10, 64)
		if err == nil && len(s) > 1 && s[0] == '0' && n >= 8 {
			return 0, fmt.Errorf("leading zero: tpm2-tools reads it as octal; write %d", n)
		}
	default:
		return 0, fmt.Errorf("not a number")
	}
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if n > max {
		return 0, fmt.Errorf("out of range 0-%d", max)
	}
	return n, nil
}
