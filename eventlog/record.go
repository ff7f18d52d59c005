package eventlog

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"tpmfs/tpmcore/pcrsel"
)

// NumPCRs is the number of PCRs of a PC Client TPM, the most a record
// names.
const NumPCRs = 24

// ErrInvalid marks a log, record or content that does not parse.
var ErrInvalid = errors.New("invalid event log")

// Digest is one bank's digest in a record.
type Digest struct {
	// Alg is the bank's tpm2-tools name ("sha256"), as CEL-JSON and
	// systemd spell hashAlg.
	Alg   string `json:"hashAlg"`
	Value Hex    `json:"digest"`
}

// Record is one CEL-JSON record. Content is kept as its JSON text; tpmfs's
// own content is read with ParseContent.
type Record struct {
	Recnum      uint64          `json:"recnum"`
	PCR         int             `json:"pcr"`
	Digests     []Digest        `json:"digests"`
	ContentType string          `json:"content_type"`
	Content     json.RawMessage `json:"content"`
}

// Hex is a byte string written as lowercase hex, as CEL-JSON writes
// digests and event data.
type Hex []byte

func (h Hex) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h), nil }

func (h *Hex) UnmarshalText(b []byte) error {
	out := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(out, b); err != nil {
		return fmt.Errorf("%w: %q is not hex", ErrInvalid, clip(b))
	}
	*h = out
	return nil
}

// Check validates r on its own: a PCR in range, each digest of a known
// bank, of its size and at most once, and content that is a JSON object
// (tpmfs's content checked by ParseContent too).
func (r *Record) Check() error {
	if r.PCR < 0 || r.PCR >= NumPCRs {
		return fmt.Errorf("%w: record %d: pcr %d out of range 0-%d", ErrInvalid, r.Recnum, r.PCR, NumPCRs-1)
	}
	seen := map[string]bool{}
	for _, d := range r.Digests {
		b, ok := pcrsel.BankByName(d.Alg)
		if !ok || b.Name != d.Alg {
			return fmt.Errorf("%w: record %d: unknown hashAlg %q", ErrInvalid, r.Recnum, clip([]byte(d.Alg)))
		}
		if len(d.Value) != b.Size {
			return fmt.Errorf("%w: record %d: %s digest of %d bytes, want %d", ErrInvalid, r.Recnum, d.Alg, len(d.Value), b.Size)
		}
		if seen[d.Alg] {
			return fmt.Errorf("%w: record %d: two %s digests", ErrInvalid, r.Recnum, d.Alg)
		}
		seen[d.Alg] = true
	}
	if r.ContentType == "" {
		return fmt.Errorf("%w: record %d: no content_type", ErrInvalid, r.Recnum)
	}
	if c := bytes.TrimSpace(r.Content); len(c) == 0 || c[0] != '{' {
		return fmt.Errorf("%w: record %d: content is not an object", ErrInvalid, r.Recnum)
	}
	if r.ContentType == ContentType {
		c, err := ParseContent(r.Content)
		if err != nil {
			return fmt.Errorf("record %d: %w", r.Recnum, err)
		}
		// A header extends nothing; a measurement extends something.
		if (c.Type == TypeBoot) != (len(r.Digests) == 0) {
			return fmt.Errorf("%w: record %d: a %s record with %d digests", ErrInvalid, r.Recnum, c.Type, len(r.Digests))
		}
	}
	return nil
}

// Digest returns the record's digest for bank, or nil.
func (r *Record) Digest(bank string) []byte {
	for _, d := range r.Digests {
		if d.Alg == bank {
			return d.Value
		}
	}
	return nil
}

// clip shortens input quoted in an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
