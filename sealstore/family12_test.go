package sealstore

import (
	"crypto/sha1"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"tpmfs/tpmcore/sealing"
)

// sealed12Record is a record as a TPM 1.2 seals it: no public area, the
// blob in private, a 20-byte composite digest as policy.
func sealed12Record(name string) *Record {
	d16 := sha1.Sum([]byte("pcr16"))
	return &Record{
		Name: name, ID: "0123456789abcdef0123456789abcdef", UID: 1000, GID: 100, Mode: 0o700, Selection: "sha1:16",
		Created: bareRecord(name).Created, Modified: bareRecord(name).Modified,
		Sealed: &sealing.Object{
			Family:     "1.2",
			Selection:  "sha1:16",
			PCRValues:  []sealing.PCRValue{{Bank: "sha1", Index: 16, Digest: d16[:]}},
			Policy:     randBytes(7, 20),
			Private:    randBytes(8, 322),
			Nonce:      randBytes(9, 12),
			Ciphertext: randBytes(10, 40),
		},
	}
}

func TestFamily12RoundTrip(t *testing.T) {
	r := sealed12Record("tpm12")
	data, err := encode(r)
	if err != nil {
		t.Fatal(err)
	}
	sealed := func(data []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m["sealed"].(map[string]any)
	}
	if fam := sealed(data)["family"]; fam != "1.2" {
		t.Errorf("sealed.family = %#v, want \"1.2\"", fam)
	} else if _, ok := sealed(data)["public"]; ok {
		t.Errorf("a TPM 1.2 record has a public field: %s", data)
	}
	got, err := decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("decoded %+v, want %+v", got.Sealed, r.Sealed)
	}
	// A TPM 2.0 record has no family field at all.
	data, err = encode(sealedRecord("tpm20", 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sealed(data)["family"]; ok {
		t.Errorf("TPM 2.0 record has a family field: %s", data)
	}
}

func TestFamily12Rejects(t *testing.T) {
	for name, f := range map[string]func(o *sealing.Object){
		"unknown family":  func(o *sealing.Object) { o.Family = "2.0" },
		"1.2 no private":  func(o *sealing.Object) { o.Private = nil },
		"1.2 no nonce":    func(o *sealing.Object) { o.Nonce = nil },
		"2.0 no public":   func(o *sealing.Object) { o.Family = "" },
		"1.2 sha1 digest": func(o *sealing.Object) { o.PCRValues[0].Digest = o.PCRValues[0].Digest[:19] },
	} {
		r := sealed12Record("obj")
		f(r.Sealed)
		if _, err := encode(r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: encode gave %v, want ErrInvalidRecord", name, err)
		}
		// Bypass encode's check to see decode refuse the same.
		data, err := json.Marshal(map[string]any{
			"version": 1, "name": r.Name, "uid": r.UID, "gid": r.GID, "mode": "0700", "pcrs": r.Selection,
			"created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "sealed": r.Sealed,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decode(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decode gave %v, want ErrCorrupt", name, err)
		}
	}
}
