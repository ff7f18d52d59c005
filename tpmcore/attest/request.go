package attest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"tpmfs/tpmcore/pcrsel"
)

// MaxRequest bounds a quote request: a selection of every PCR of every
// bank and the longest nonce are far shorter.
const MaxRequest = 4096

// ErrRequest: a quote request that does not parse.
var ErrRequest = errors.New("invalid quote request")

// ParseRequest reads a quote request: one line of space-separated
// words, a PCR selection in tpm2-tools syntax ("sha256:0-7",
// "sha1:0+sha256:0,7") and "nonce=HEX" (up to MaxNonce bytes, either
// case, optional 0x; without it the nonce is empty), in either order,
// surrounding space and one final newline ignored.
func ParseRequest(line string) (pcrsel.Selection, []byte, error) {
	if len(line) > MaxRequest {
		return pcrsel.Selection{}, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrRequest, len(line), MaxRequest)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if strings.ContainsAny(line, "\n\x00") {
		return pcrsel.Selection{}, nil, fmt.Errorf("%w: one line, please", ErrRequest)
	}
	var sel pcrsel.Selection
	var nonce []byte
	var haveSel, haveNonce bool
	for _, w := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(w, "nonce="); ok {
			if haveNonce {
				return sel, nil, fmt.Errorf("%w: nonce given twice", ErrRequest)
			}
			haveNonce = true
			if len(v) > 2 && (v[:2] == "0x" || v[:2] == "0X") {
				v = v[2:]
			}
			if len(v) > 2*MaxNonce {
				return sel, nil, fmt.Errorf("%w: nonce of %d hex digits, at most %d", ErrRequest, len(v), 2*MaxNonce)
			}
			n, err := hex.DecodeString(v)
			if err != nil {
				return sel, nil, fmt.Errorf("%w: nonce is not hex", ErrRequest)
			}
			nonce = n
			continue
		}
		if haveSel {
			return sel, nil, fmt.Errorf("%w: %q: one selection (join banks with +) and nonce=HEX", ErrRequest, clip(w))
		}
		s, err := pcrsel.Parse(w)
		if err != nil {
			return sel, nil, fmt.Errorf("%w: %w", ErrRequest, err)
		}
		sel, haveSel = s, true
	}
	if !haveSel || sel.IsEmpty() {
		return sel, nil, fmt.Errorf("%w: no PCR selected (write e.g. \"sha256:0-7 nonce=HEX\")", ErrRequest)
	}
	return sel, nonce, nil
}

// clip keeps error messages short when a writer sends garbage.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
