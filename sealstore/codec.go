package sealstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"tpmfs/tpmcore/attest"
	"tpmfs/tpmcore/pcrsig"
	"tpmfs/tpmcore/sealing"
)

// FormatVersion is the version of the state file format written by Save.
// Load also reads version 2, which had no "authkey", "pcrsig", PCR values
// in "pcrs" or "parent", and version 1, which had no "id" either (see
// legacyID).
const FormatVersion = 3

// The older versions Load reads.
const (
	formatV1 = 1
	formatV2 = 2
)

// MaxFileSize bounds a state file: a 1 MiB secret is about 1.4 MiB in
// base64, plus a few KiB of TPM blobs. Anything larger is not ours.
const MaxFileSize = 4 << 20

// fileV3 is the JSON layout of version 3 (docs/state-format.md); version
// 2 is the same without "authkey", "pcrsig", given values in "pcrs" and
// "sealed"'s "authkey" and "parent", version 1 without "id" too. Pointers
// tell a missing field from a zero one.
type fileV3 struct {
	Version   *int            `json:"version"`
	Name      *string         `json:"name"`
	ID        *string         `json:"id,omitempty"`
	UID       *uint32         `json:"uid"`
	GID       *uint32         `json:"gid"`
	Mode      *string         `json:"mode"` // four octal digits, "0755"
	Selection *string         `json:"pcrs"`
	Created   *string         `json:"created"`  // RFC 3339, UTC
	Modified  *string         `json:"modified"` // RFC 3339, UTC
	AuthKey   *[]byte         `json:"authkey,omitempty"`
	PCRSig    *pcrsig.Set     `json:"pcrsig,omitempty"`
	Sealed    *sealing.Object `json:"sealed,omitempty"`
	AK        *attest.Key     `json:"ak,omitempty"`
}

// encode validates r and renders it as a FormatVersion file. Errors wrap
// ErrInvalidRecord.
func encode(r *Record) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	v := FormatVersion
	mode := fmt.Sprintf("%04o", r.Mode)
	created := r.Created.UTC().Format(time.RFC3339Nano)
	modified := r.Modified.UTC().Format(time.RFC3339Nano)
	f := fileV3{
		Version: &v, Name: &r.Name, ID: &r.ID, UID: &r.UID, GID: &r.GID, Mode: &mode,
		Selection: &r.Selection, Created: &created, Modified: &modified,
		Sealed: r.Sealed, AK: r.AK,
	}
	if len(r.AuthKey) > 0 {
		f.AuthKey = &r.AuthKey
	}
	if r.Signatures != nil && len(r.Signatures.Policies) > 0 {
		f.PCRSig = r.Signatures
	}
	data, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: encode %s: %w", ErrInvalidRecord, r.Name, err)
	}
	data = append(data, '\n')
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s encodes to %d bytes, at most %d", ErrInvalidRecord, r.Name, len(data), MaxFileSize)
	}
	return data, nil
}

// decode parses a state file strictly: known version, no unknown fields,
// no trailing data, every required field present and valid. Errors wrap
// ErrCorrupt. It does not check the name against the file name.
func decode(data []byte) (*Record, error) {
	r, err := decodeStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}

func decodeStrict(data []byte) (*Record, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, at most %d", len(data), MaxFileSize)
	}
	// The version decides the layout, so read it first and alone: a
	// future version may have fields this one would call unknown.
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("not a state file: %w", err)
	}
	if probe.Version == nil {
		return nil, errors.New("no version")
	}
	version := *probe.Version
	if version != FormatVersion && version != formatV2 && version != formatV1 {
		return nil, fmt.Errorf("unsupported version %d (this tpmfs reads %d to %d)", version, formatV1, FormatVersion)
	}

	var f fileV3
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("version %d: %w", version, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the record")
	}
	for _, m := range []struct {
		field   string
		missing bool
	}{
		{"name", f.Name == nil}, {"uid", f.UID == nil}, {"gid", f.GID == nil},
		{"mode", f.Mode == nil}, {"pcrs", f.Selection == nil},
		{"created", f.Created == nil}, {"modified", f.Modified == nil},
		{"id", version >= 2 && f.ID == nil},
	} {
		if m.missing {
			return nil, fmt.Errorf("field %q missing", m.field)
		}
	}

	if version < 3 {
		for _, n := range []struct {
			field string
			set   bool
		}{
			{"authkey", f.AuthKey != nil}, {"pcrsig", f.PCRSig != nil},
			{"sealed.authkey", f.Sealed != nil && f.Sealed.AuthKey != nil},
			{"sealed.parent", f.Sealed != nil && f.Sealed.Parent != nil},
			{"pcrs with values", strings.Contains(*f.Selection, "=")},
		} {
			if n.set {
				return nil, fmt.Errorf("version %d has no %s", version, n.field)
			}
		}
	}
	r := &Record{Name: *f.Name, UID: *f.UID, GID: *f.GID, Selection: *f.Selection, Sealed: f.Sealed, AK: f.AK}
	// Absent and empty mean the same, as encode writes neither.
	if f.AuthKey != nil && len(*f.AuthKey) > 0 {
		r.AuthKey = *f.AuthKey
	}
	if f.PCRSig != nil && len(f.PCRSig.Policies) > 0 {
		r.Signatures = f.PCRSig
	}
	var err error
	if r.Mode, err = parseMode(*f.Mode); err != nil {
		return nil, err
	}
	if r.Created, err = parseTime("created", *f.Created); err != nil {
		return nil, err
	}
	if r.Modified, err = parseTime("modified", *f.Modified); err != nil {
		return nil, err
	}
	switch {
	case version == formatV1 && f.ID != nil:
		return nil, errors.New(`version 1 has no field "id"`)
	case version == formatV1 && f.AK != nil:
		return nil, errors.New(`version 1 has no field "ak"`)
	case version == formatV1:
		r.ID = legacyID(r.Name, r.Created)
	default:
		r.ID = *f.ID
	}
	normalise(r.Sealed)
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// parseMode accepts exactly what encode writes: four octal digits.
func parseMode(s string) (uint32, error) {
	if len(s) != 4 {
		return 0, fmt.Errorf("mode %q: want four octal digits", s)
	}
	var m uint32
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return 0, fmt.Errorf("mode %q: want four octal digits", s)
		}
		m = m<<3 | uint32(s[i]-'0')
	}
	return m, nil
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	return t.UTC(), nil
}

// normalise turns empty slices into nil, so that a decoded record equals
// what the same record decodes to after encoding ("policy": "" and a
// missing policy mean the same).
func normalise(o *sealing.Object) {
	if o == nil {
		return
	}
	for _, b := range []*[]byte{&o.Policy, &o.Public, &o.Private, &o.Nonce, &o.Ciphertext, &o.AuthKey, &o.Parent} {
		if len(*b) == 0 {
			*b = nil
		}
	}
	if len(o.PCRValues) == 0 {
		o.PCRValues = nil
	}
}
