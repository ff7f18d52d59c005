package sealstore

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tpmcore/attest"
)

// akRecord is an attestation key's record, created (a public area of the
// AK template, a private blob) or not yet.
func akRecord(name string, created bool) *Record {
	r := bareRecord(AKName(name))
	r.Mode = 0o700
	r.AK = &attest.Key{Type: attest.ECC}
	if created {
		r.AK.Public = tpm2.Marshal(tpm2.New2B(attest.AKTemplate(attest.ECC)))
		priv := randBytes(7, 120)
		r.AK.Private = append(binary.BigEndian.AppendUint16(nil, uint16(len(priv))), priv...)
	}
	return r
}

// TestAKRecords: attestation keys live beside sealed objects under
// names of their own, and a record is one kind or the other.
func TestAKRecords(t *testing.T) {
	s := openStore(t, t.TempDir())
	for _, r := range []*Record{akRecord("k", false), akRecord("k2", true), bareRecord("k")} {
		if err := s.Save(r); err != nil {
			t.Fatalf("save %s: %v", r.Name, err)
		}
		got, err := s.Load(r.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: loaded %+v, saved %+v", r.Name, got, r)
		}
	}
	names, _ := s.List()
	if strings.Join(names, " ") != "ak@k ak@k2 k" {
		t.Errorf("List = %v", names)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "ak@k.json")); err != nil {
		t.Error(err)
	}
	bad := map[string]*Record{
		"seal name with ak":     func() *Record { r := bareRecord("x"); r.AK = &attest.Key{Type: attest.RSA}; return r }(),
		"ak name without ak":    bareRecord(AKName("x")),
		"ak with a selection":   func() *Record { r := akRecord("x", false); r.Selection = "sha256:0"; return r }(),
		"ak of an unknown type": func() *Record { r := akRecord("x", false); r.AK.Type = "dsa"; return r }(),
		"ak without private":    func() *Record { r := akRecord("x", true); r.AK.Private = nil; return r }(),
		"ak of another key": func() *Record {
			r := akRecord("x", true)
			r.AK.Public = tpm2.Marshal(tpm2.New2B(tpm2.ECCSRKTemplate))
			return r
		}(),
	}
	for what, r := range bad {
		if err := s.Save(r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: Save: %v", what, err)
		}
	}
	for _, n := range []string{"ak@", "ak@.x", "ak@a@b", "AK@x@"} {
		if _, err := s.Load(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Load(%q): %v", n, err)
		}
	}
	// A sealed object's file renamed to an attestation key's name is
	// corrupt, not an attestation key.
	os.Rename(filepath.Join(s.Dir(), "k.json"), filepath.Join(s.Dir(), "ak@k3.json"))
	if _, err := s.Load("ak@k3"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a renamed sealed object: %v", err)
	}
}
