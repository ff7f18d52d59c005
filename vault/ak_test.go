package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tpmfs/internal/faketpm"
	"tpmfs/sealstore"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsel"
)

func mustAK(t *testing.T, a *AKs, c Caller, name string) AKInfo {
	t.Helper()
	info, err := a.Create(c, name, 0o700, c.GID)
	if err != nil {
		t.Fatalf("create AK %s: %v", name, err)
	}
	return info
}

// TestAKLifecycle: a key is made on first use with the type chosen
// before it, kept across vault instances, and its name space is its own.
func TestAKLifecycle(t *testing.T) {
	v, tpm, store := newVault(t, Options{})
	a := v.AKs(tpm)
	k := mustAK(t, a, alice, "k")
	if k.Type != "ecc" || k.Public != nil || k.UID != alice.UID || k.Name() != "k" {
		t.Fatalf("new key: %+v", k)
	}
	if _, err := a.Create(alice, "k", 0o700, 0); !errors.Is(err, ErrExists) {
		t.Errorf("second key of a name: %v", err)
	}
	// A sealed object of the same name is another object.
	s := mustCreate(t, v, alice, "k")
	if s.Ino == k.Ino || s.ID == k.ID {
		t.Errorf("sealed object and key share identity: %+v %+v", s, k)
	}
	if names, _ := v.List(); strings.Join(names, ",") != "k" {
		t.Errorf("seal/ lists %v", names)
	}
	if names, _ := a.List(); strings.Join(names, ",") != "k" {
		t.Errorf("ak/ lists %v", names)
	}
	if _, err := v.Lookup("ak@k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("seal/ reaches a key by its store name: %v", err)
	}
	if err := v.Remove("ak@k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("seal/ removes a key by its store name: %v", err)
	}

	if err := a.SetType(k.Ref, "dsa"); !errors.Is(err, tpmcore.ErrInvalid) {
		t.Errorf("type dsa: %v", err)
	}
	if err := a.SetType(k.Ref, "rsa"); err != nil {
		t.Fatal(err)
	}
	if tpm.AKsMade() != 0 {
		t.Errorf("a key was made before first use")
	}
	pub, err := a.Public(ctx, k.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pub.PEM), "PUBLIC KEY") || len(pub.Name) != 68 {
		t.Errorf("public: %s %s", pub.PEM, pub.Name)
	}
	again, _ := a.Public(ctx, k.Ref)
	if tpm.AKsMade() != 1 || again.Name != pub.Name {
		t.Errorf("%d keys made for two uses", tpm.AKsMade())
	}
	if err := a.SetType(k.Ref, "ecc"); !errors.Is(err, ErrKeyCreated) {
		t.Errorf("type after first use: %v", err)
	}
	if err := a.SetType(k.Ref, "rsa"); err != nil {
		t.Errorf("the key's own type again: %v", err)
	}
	sel, _ := pcrsel.Parse("sha256:0,1")
	q, err := a.Quote(ctx, k.Ref, sel, []byte{1})
	if err != nil || len(q.Values) != 2 {
		t.Fatalf("quote: %v", err)
	}
	secret, err := a.Activate(ctx, k.Ref, faketpm.FakeCredential(pub.Name, []byte("s")))
	if err != nil || string(secret) != "s" {
		t.Errorf("activate: %q %v", secret, err)
	}

	// Another vault on the same store finds the key as it was.
	store.Close()
	store2, err := sealstore.Open(store.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	v2, _ := New(store2, tpm, Options{})
	k2, err := v2.AKs(tpm).Lookup("k")
	if err != nil || k2.Type != "rsa" || k2.Public == nil || k2.Public.Name != pub.Name || k2.ID != k.ID {
		t.Errorf("after reopening: %+v %v", k2, err)
	}
}

// TestAKStaleAndQuota: handles of a removed key fail and never reach a
// new one of the same name; keys count against seal_quota= objects.
func TestAKStaleAndQuota(t *testing.T) {
	v, tpm, store := newVault(t, Options{Quota: &Quota{Objects: 2, Bytes: 100}})
	a := v.AKs(tpm)
	old := mustAK(t, a, alice, "k")
	mustCreate(t, v, alice, "s")
	if _, err := a.Create(alice, "k2", 0o700, 0); !errors.Is(err, ErrQuota) {
		t.Errorf("a key past the quota: %v", err)
	}
	if _, err := v.Create(alice, "s2", 0o700, 0); !errors.Is(err, ErrQuota) {
		t.Errorf("an object past the quota: %v", err)
	}
	if err := a.Remove("k"); err != nil {
		t.Fatal(err)
	}
	fresh := mustAK(t, a, alice, "k")
	for what, err := range map[string]error{
		"public":   func() error { _, err := a.Public(ctx, old.Ref); return err }(),
		"quote":    func() error { _, err := a.Quote(ctx, old.Ref, pcrsel.Selection{}, nil); return err }(),
		"activate": func() error { _, err := a.Activate(ctx, old.Ref, nil); return err }(),
		"type":     a.SetType(old.Ref, "rsa"),
		"stat":     func() error { _, err := a.Stat(old.Ref); return err }(),
	} {
		if !errors.Is(err, ErrStale) {
			t.Errorf("%s through the removed key's ref: %v", what, err)
		}
	}
	if fresh.Ino == old.Ino {
		t.Errorf("the new key has the old inode")
	}
	// A damaged key is found, and only removable.
	os.WriteFile(filepath.Join(store.Dir(), "ak@k.json"), []byte("{"), 0o600)
	d, err := a.Lookup("k")
	if err != nil || d.Damaged == nil {
		t.Fatalf("damaged key: %+v %v", d, err)
	}
	if err := a.SetType(d.Ref, "rsa"); !errors.Is(err, ErrDamaged) {
		t.Errorf("type of a damaged key: %v", err)
	}
	if err := a.Remove("k"); err != nil {
		t.Errorf("remove a damaged key: %v", err)
	}
}

// TestAKReadOnly: on a read-only mount a key is not made at first use.
func TestAKReadOnly(t *testing.T) {
	v, tpm, store := newVault(t, Options{})
	k := mustAK(t, v.AKs(tpm), alice, "k")
	ro, _ := New(store, tpm, Options{ReadOnly: true})
	a := ro.AKs(tpm)
	if _, err := a.Public(ctx, k.Ref); !errors.Is(err, ErrReadOnly) {
		t.Errorf("first use on a read-only mount: %v", err)
	}
	if err := a.SetType(k.Ref, "rsa"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("type on a read-only mount: %v", err)
	}
	if _, err := a.Create(alice, "k2", 0o700, 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("create on a read-only mount: %v", err)
	}
}
