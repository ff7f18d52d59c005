package pcrsel

import (
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
func Parse(s string) (Selection, error) {
	var sel Selection
	s = strings.TrimSpace(s)
	if s == "" {
		return sel, nil
	}
	var seen [len(banks)]bool
	for _, part := range strings.Split(s, "+") {
		part = strings.TrimSpace(part)
		name, list, ok := strings.Cut(part, ":")
		if !ok {
			return Selection{}, fmt.Errorf("%w: %q: want BANK:PCR[,PCR...]", ErrInvalid, part)
		}
		b, err := parseBank(strings.TrimSpace(name))
		if err != nil {
			return Selection{}, fmt.Errorf("%w: %q: %v", ErrInvalid, part, err)
		}
		k := slot(b.Alg)
		if seen[k] {
			return Selection{}, fmt.Errorf("%w: bank %s selected twice", ErrInvalid, b.Name)
		}
		seen[k] = true
		m, err := parseList(strings.TrimSpace(list))
		if err != nil {
			return Selection{}, fmt.Errorf("%w: %q: %v", ErrInvalid, part, err)
		}
		sel.masks[k] = m
	}
	return sel, nil
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

// parseList reads "all", "none" or comma-separated PCR indices into a mask.
func parseList(s string) (uint32, error) {
	switch strings.ToLower(s) {
	case "all":
		return 1<<NumPCRs - 1, nil
	case "none":
		return 0, nil
	case "":
		return 0, fmt.Errorf("no PCR listed")
	}
	var m uint32
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return 0, fmt.Errorf("empty PCR index")
		}
		lo, hi, isRange := strings.Cut(tok, "-")
		if !isRange {
			hi = lo
		}
		first, err := parseNumber(strings.TrimSpace(lo), NumPCRs-1)
		if err != nil {
			return 0, fmt.Errorf("PCR %q: %v", tok, err)
		}
		last, err := parseNumber(strings.TrimSpace(hi), NumPCRs-1)
		if err != nil {
			return 0, fmt.Errorf("PCR %q: %v", tok, err)
		}
		if last < first {
			return 0, fmt.Errorf("PCR range %q: runs backwards", tok)
		}
		for n := first; n <= last; n++ {
			m |= 1 << n
		}
	}
	return m, nil
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
