package sealing

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"testing"
)

// stored12 builds a TPM_STORED_DATA12 bound to PCR 16 with digest
// (digestAtCreation and digestAtRelease), as TPM_Seal returns one.
func stored12(digest []byte) []byte {
	info := []byte{0x00, 0x06, 0x01, 0x1F} // TPM_PCR_INFO_LONG, localities
	info = append(info, 0, 3, 0, 0, 1)     // creationPCRSelection: PCR 16
	info = append(info, 0, 3, 0, 0, 1)     // releasePCRSelection: PCR 16
	info = append(info, digest...)
	info = append(info, digest...)
	b := []byte{0x00, 0x16, 0x00, 0x05} // TPM_TAG_STORED_DATA12, TPM_ET_DATA
	b = binary.BigEndian.AppendUint32(b, uint32(len(info)))
	b = append(b, info...)
	b = binary.BigEndian.AppendUint32(b, 256)
	return append(b, make([]byte, 256)...)
}

// composite16 is SHA-1 of TPM_PCR_COMPOSITE for PCR 16 alone, computed
// here from the structure's layout.
func composite16(v []byte) []byte {
	d := sha1.Sum(append([]byte{0, 3, 0, 0, 1, 0, 0, 0, 20}, v...))
	return d[:]
}

// FuzzCheck12 feeds check12 (the validator of stored TPM 1.2 objects)
// arbitrary selections, blobs, policies and PCR values: it must not
// panic, must reject as ErrCorrupt, and what it accepts with PCR 16 must
// carry PCR 16's composite digest as its policy.
func FuzzCheck12(f *testing.F) {
	v := bytes.Repeat([]byte{7}, 20)
	f.Add("sha1:16", stored12(composite16(v)), composite16(v), 16, v)
	f.Add("sha1:16", stored12(composite16(v)), composite16(v), 15, v)
	f.Add("", []byte{0, 0x16, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 9}, []byte(nil), 0, []byte(nil))
	f.Add("sha256:16", stored12(v), v, 16, v)
	f.Fuzz(func(t *testing.T, sel string, blob, policy []byte, idx int, value []byte) {
		obj := &Object{Family: Family12, Selection: sel, Policy: policy, Private: blob}
		if value != nil {
			obj.PCRValues = []PCRValue{{Bank: "sha1", Index: idx, Digest: value}}
		}
		err := check12(obj)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("check12 error %v is not ErrCorrupt", err)
			}
			return
		}
		if sel == "sha1:16" && !bytes.Equal(policy, composite16(value)) {
			t.Fatalf("accepted policy %x for PCR 16 = %x", policy, value)
		}
		if sel == "" && (len(policy) != 0 || value != nil) {
			t.Fatalf("accepted a policy or PCR values without a selection: %+v", obj)
		}
	})
}

func TestCheck12(t *testing.T) {
	v := bytes.Repeat([]byte{7}, 20)
	good := func() *Object {
		return &Object{Family: Family12, Selection: "sha1:16", Policy: composite16(v), Private: stored12(composite16(v)),
			PCRValues: []PCRValue{{Bank: "sha1", Index: 16, Digest: bytes.Clone(v)}}}
	}
	if err := check12(good()); err != nil {
		t.Fatalf("check12 of a consistent object: %v", err)
	}
	for name, f := range map[string]func(o *Object){
		"value":     func(o *Object) { o.PCRValues[0].Digest[3] ^= 1 },
		"policy":    func(o *Object) { o.Policy = v },
		"selection": func(o *Object) { o.Selection = "sha1:15" },
		"bank":      func(o *Object) { o.Selection = "sha256:16" },
		"blob":      func(o *Object) { o.Private = stored12(v) },
		"public":    func(o *Object) { o.Public = []byte{0, 0} },
		"authkey":   func(o *Object) { o.AuthKey = []byte{0x30, 0} },
		"no values": func(o *Object) { o.PCRValues = nil },
	} {
		o := good()
		f(o)
		if err := check12(o); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s altered: %v, want ErrCorrupt", name, err)
		}
	}
	o := good()
	o.Family = ""
	if err := check12(o); !errors.Is(err, ErrWrongTPM) {
		t.Errorf("TPM 2.0 object: %v, want ErrWrongTPM", err)
	}
}
