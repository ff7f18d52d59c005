package pcrsig

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"tpmfs/tpmcore/pcrsel"
)

// Limits of a pcrsig file: systemd signs 4 boot phases in 4 banks, 16
// entries of about 500 bytes.
const (
	MaxText     = 64 << 10
	MaxPolicies = 64
	maxSig      = 1024 // an RSA-2048 signature is 256 bytes, ECDSA P-256 ≤ 72
)

// Policy is one signed PCR policy: the PolicyPCR digest (SHA-256, as
// systemd's trial session computes it) of PCRs of one bank holding given
// values, signed by a key.
type Policy struct {
	Bank   pcrsel.Bank
	PCRs   pcrsel.Selection // of Bank only
	KeyFP  []byte           // SHA-256 of the signer's DER public key ("pkfp")
	Digest []byte           // the signed policy digest ("pol")
	Sig    []byte           // the signature over Bank's hash of Digest ("sig")
}

// Set is the content of a pcrsig file: signed policies in file order
// (banks by name, then as listed).
type Set struct {
	Policies []Policy
}

// space is white space as JSON and PEM know it.
const space = " \t\r\n"

// entry is one policy as systemd writes it.
type entry struct {
	PCRs []int  `json:"pcrs"`
	PKFP string `json:"pkfp"`
	Pol  string `json:"pol"`
	Sig  string `json:"sig"`
}

// Parse reads a pcrsig file strictly: one JSON object of bank names
// (sha1, sha256, sha384, sha512) to arrays of entries with exactly the
// fields pcrs (PCR indices of that bank), pkfp (hex SHA-256), pol (hex
// SHA-256 policy digest) and sig (base64), no key twice, and nothing but
// white space after it. Empty text, or {}, is the empty set.
func Parse(text []byte) (*Set, error) {
	if len(text) > MaxText {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(text), MaxText)
	}
	if len(bytes.Trim(text, space)) == 0 {
		return &Set{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	var top json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more after the JSON object: one object only", ErrInvalid)
	}
	banks, err := fields(top)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(banks))
	for name := range banks {
		names = append(names, name)
	}
	sort.Strings(names)
	s := &Set{}
	for _, name := range names {
		b, ok := pcrsel.BankByName(name)
		if !ok || b.Name != name || b.Hash == 0 {
			return nil, fmt.Errorf("%w: bank %q (want sha1, sha256, sha384 or sha512)", ErrInvalid, name)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(banks[name], &list); err != nil || list == nil {
			return nil, fmt.Errorf("%w: %s: want an array of signed policies", ErrInvalid, name)
		}
		for i, raw := range list {
			p, err := parseEntry(b, raw)
			if err != nil {
				return nil, fmt.Errorf("%w: %s[%d]: %w", ErrInvalid, name, i, err)
			}
			s.Policies = append(s.Policies, p)
		}
	}
	if len(s.Policies) > MaxPolicies {
		return nil, fmt.Errorf("%w: %d signed policies, at most %d", ErrInvalid, len(s.Policies), MaxPolicies)
	}
	return s, nil
}

// fields reads a JSON object into its members, refusing a name twice
// (encoding/json would silently keep the last).
func fields(raw json.RawMessage) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%w: want a JSON object", ErrInvalid)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		name := t.(string) // object keys are strings
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: %q given twice", ErrInvalid, name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrInvalid, name, err)
		}
		out[name] = v
	}
	return out, nil
}

func parseEntry(b pcrsel.Bank, raw json.RawMessage) (Policy, error) {
	f, err := fields(raw)
	if err != nil {
		return Policy{}, errors.Unwrap(err)
	}
	for _, want := range []string{"pcrs", "pkfp", "pol", "sig"} {
		if _, ok := f[want]; !ok {
			return Policy{}, fmt.Errorf("field %q missing", want)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e entry
	if err := dec.Decode(&e); err != nil {
		return Policy{}, err
	}
	p := Policy{Bank: b}
	if len(e.PCRs) == 0 {
		return Policy{}, errors.New("pcrs: no PCR")
	}
	var pcrs []pcrsel.PCR
	for _, i := range e.PCRs {
		if slices.Contains(pcrs, pcrsel.PCR{Bank: b, Index: i}) {
			return Policy{}, fmt.Errorf("pcrs: %d twice", i)
		}
		pcrs = append(pcrs, pcrsel.PCR{Bank: b, Index: i})
	}
	if p.PCRs, err = pcrsel.Of(pcrs...); err != nil {
		return Policy{}, fmt.Errorf("pcrs: %w", err)
	}
	if p.KeyFP, err = hexField("pkfp", e.PKFP); err != nil {
		return Policy{}, err
	}
	if p.Digest, err = hexField("pol", e.Pol); err != nil {
		return Policy{}, err
	}
	if p.Sig, err = base64.StdEncoding.Strict().DecodeString(e.Sig); err != nil || len(p.Sig) == 0 || len(p.Sig) > maxSig {
		return Policy{}, fmt.Errorf("sig: want base64 of 1-%d bytes", maxSig)
	}
	return p, nil
}

// hexField reads a SHA-256 in lowercase or uppercase hex.
func hexField(name, s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%s: want %d hex digits", name, 2*sha256.Size)
	}
	return b, nil
}

// Verify checks that key made every policy of s: its fingerprint is the
// key's (ErrOtherKey otherwise) and its signature verifies (ErrInvalid
// otherwise).
func (s *Set) Verify(key *Key) error {
	fp := key.Fingerprint()
	for i, p := range s.Policies {
		if !bytes.Equal(p.KeyFP, fp) {
			return fmt.Errorf("%w: %s policy %d is signed by the key with fingerprint %x, the authkey's is %x",
				ErrOtherKey, p.Bank.Name, i, p.KeyFP, fp)
		}
		if err := key.verify(p.Bank.Hash, p.Digest, p.Sig); err != nil {
			return fmt.Errorf("%w: %s policy %d (%s, pol %x): signature does not verify with the authkey: %v",
				ErrInvalid, p.Bank.Name, i, p.PCRs, p.Digest, err)
		}
	}
	return nil
}

// MarshalJSON writes s as systemd does (compact): banks by name, each an
// array of {"pcrs","pkfp","pol","sig"}.
func (s *Set) MarshalJSON() ([]byte, error) {
	banks := map[string][]entry{}
	for _, p := range s.Policies {
		e := entry{
			PKFP: hex.EncodeToString(p.KeyFP),
			Pol:  hex.EncodeToString(p.Digest),
			Sig:  base64.StdEncoding.EncodeToString(p.Sig),
		}
		e.PCRs = p.PCRs.Indices(p.Bank)
		banks[p.Bank.Name] = append(banks[p.Bank.Name], e)
	}
	return json.Marshal(banks) // map keys come out sorted
}

// UnmarshalJSON reads what MarshalJSON writes, as strictly as Parse.
func (s *Set) UnmarshalJSON(b []byte) error {
	p, err := Parse(b)
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

// Text is the file's content: MarshalJSON and a newline; empty for an
// empty set.
func (s *Set) Text() []byte {
	if s == nil || len(s.Policies) == 0 {
		return []byte{}
	}
	b, _ := s.MarshalJSON() // cannot fail: strings and ints
	return append(b, '\n')
}
