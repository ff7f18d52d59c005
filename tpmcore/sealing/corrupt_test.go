package sealing

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
)

// corrupt: renamed, altered and inconsistent objects.
func corrupt(t *testing.T, tpm transport.TPM) {
	obj, err := Seal(tpm, nil, "name", Bind(mustParse(t, "sha256:0,7")), []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	// A JSON round trip, as the store does, still opens.
	var stored Object
	js, _ := json.Marshal(obj)
	if err := json.Unmarshal(js, &stored); err != nil {
		t.Fatal(err)
	}
	if got, err := Unseal(tpm, nil, "name", &stored, nil); err != nil || string(got) != "secret" {
		t.Fatalf("after JSON round trip: %q, %v", got, err)
	}
	if _, err := Unseal(tpm, nil, "other", obj, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("renamed: %v, want ErrCorrupt", err)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	cases := map[string]func(o *Object){
		"ciphertext":     func(o *Object) { o.Ciphertext = flip(o.Ciphertext, 0) },
		"tag":            func(o *Object) { o.Ciphertext = flip(o.Ciphertext, len(o.Ciphertext)-1) },
		"nonce":          func(o *Object) { o.Nonce = flip(o.Nonce, 3) },
		"short nonce":    func(o *Object) { o.Nonce = o.Nonce[:4] },
		"pcr value":      func(o *Object) { o.PCRValues[1].Digest = flip(o.PCRValues[1].Digest, 0) },
		"policy":         func(o *Object) { o.Policy = flip(o.Policy, 0) },
		"selection":      func(o *Object) { o.Selection = "sha256:0" },
		"bad selection":  func(o *Object) { o.Selection = "sha256:99" },
		"public size":    func(o *Object) { o.Public = o.Public[:len(o.Public)-1] },
		"public padded":  func(o *Object) { o.Public = append(bytes.Clone(o.Public), 0) },
		"private empty":  func(o *Object) { o.Private = nil },
		"public garbage": func(o *Object) { o.Public = []byte{0, 3, 1, 2, 3} },
	}
	for what, mutate := range cases {
		o := *obj
		o.PCRValues = append([]PCRValue(nil), obj.PCRValues...)
		mutate(&o)
		if _, err := Unseal(tpm, nil, "name", &o, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s altered: %v, want ErrCorrupt", what, err)
		}
	}
	// An altered TPM blob fails the TPM's integrity check, which cannot
	// tell it from another TPM's.
	o := *obj
	o.Private = flip(o.Private, len(o.Private)-1)
	if _, err := Unseal(tpm, nil, "name", &o, nil); !errors.Is(err, ErrWrongTPM) {
		t.Errorf("private altered: %v, want ErrWrongTPM", err)
	}
	if _, err := Unseal(tpm, nil, "name", nil, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("nil object: %v", err)
	}
	assertNoHandles(t, tpm, "corrupt objects")
}

func ownerAuth(t *testing.T, tpm transport.TPM) {
	_, err := tpm2.HierarchyChangeAuth{
		AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		NewAuth:    tpm2.TPM2BAuth{Buffer: []byte("owner")},
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seal(tpm, nil, "a", Bind(pcrsel.Selection{}), []byte("x")); !errors.Is(err, ErrOwnerAuth) {
		t.Errorf("Seal with wrong owner auth: %v, want ErrOwnerAuth", err)
	}
	obj, err := Seal(tpm, []byte("owner"), "a", Bind(pcrsel.Selection{}), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Unseal(tpm, []byte("owner"), "a", obj, nil); err != nil || string(got) != "x" {
		t.Errorf("Unseal with owner auth: %q, %v", got, err)
	}
	assertNoHandles(t, tpm, "owner auth")
}
