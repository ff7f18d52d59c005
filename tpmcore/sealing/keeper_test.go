package sealing

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// persist makes the key behind h persistent at PersistentSRK, removing
// whatever was there, and flushes h.
func persist(t *testing.T, tpm transport.TPM, h tpm2.TPMHandle, name tpm2.TPM2BName) {
	t.Helper()
	evictPersistent(t, tpm)
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: h, Name: name},
		PersistentHandle: PersistentSRK,
	}).Execute(tpm); err != nil {
		t.Fatalf("EvictControl: %v", err)
	}
	if err := flush(tpm, h); err != nil {
		t.Fatal(err)
	}
}

// evictPersistent removes the key at PersistentSRK, if there is one.
func evictPersistent(t *testing.T, tpm transport.TPM) {
	t.Helper()
	rsp, err := tpm2.ReadPublic{ObjectHandle: PersistentSRK}.Execute(tpm)
	if err != nil {
		return
	}
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: PersistentSRK, Name: rsp.Name},
		PersistentHandle: PersistentSRK,
	}).Execute(tpm); err != nil {
		t.Fatalf("EvictControl (remove): %v", err)
	}
}

func primary(t *testing.T, tpm transport.TPM, tmpl tpm2.TPMTPublic) *tpm2.CreatePrimaryResponse {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tmpl)}.Execute(tpm)
	if err != nil {
		t.Fatalf("CreatePrimary: %v", err)
	}
	return rsp
}

func mustUnseal(t *testing.T, k *Keeper, tpm transport.TPM, obj *Object, want string) {
	t.Helper()
	if got, err := k.Unseal(tpm, "k", obj, nil); err != nil || string(got) != want {
		t.Fatalf("Unseal (parent %x): %q, %v", obj.Parent, got, err)
	}
}

// keeperPersistentSRK: a persistent key of the SRK template is sealed
// under without CreatePrimary, and objects sealed under either parent
// (the template primary, the persistent key) keep opening when the
// persistent key is replaced; an object sealed before parents were
// recorded opens too.
func keeperPersistentSRK(t *testing.T, tpm transport.TPM) {
	c := &countingTPM{TPM: tpm}
	sel := mustParse(t, "sha256:7")
	a, err := Seal(tpm, nil, "k", Bind(sel), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	legacy := *a
	legacy.Parent = nil

	// The template primary itself, made persistent: the same key.
	p := primary(t, tpm, tpm2.ECCSRKTemplate)
	if !bytes.Equal(p.Name.Buffer, a.Parent) {
		t.Fatalf("the template primary's name %x differs from the recorded %x", p.Name.Buffer, a.Parent)
	}
	persist(t, tpm, p.ObjectHandle, p.Name)
	k := NewKeeper(nil)
	c.cmds = nil
	b, err := k.Seal(c, "k", Bind(sel), []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	expectCCs(t, c, "Keeper.Seal under a persistent SRK, cold", []tpm2.TPMCC{rp, sas, rd, cr})
	if !bytes.Equal(b.Parent, p.Name.Buffer) {
		t.Fatalf("parent %x, want 0x81000001's name %x", b.Parent, p.Name.Buffer)
	}
	for _, o := range []*Object{a, &legacy, b} {
		mustUnseal(t, k, c, o, string(map[*Object]string{a: "a", &legacy: "a", b: "b"}[o]))
		expectCCs(t, c, "Keeper.Unseal under the persistent SRK, warm", []tpm2.TPMCC{ld, sas, pp, us, fl})
	}
	if err := k.Close(tpm); err != nil {
		t.Fatal(err)
	}

	// Another key of the template takes its place.
	other, err := tpm2.Create{
		ParentHandle: tpm2.NamedHandle{Handle: PersistentSRK, Name: tpm2.TPM2BName{Buffer: b.Parent}},
		InPublic:     tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.NamedHandle{Handle: PersistentSRK, Name: tpm2.TPM2BName{Buffer: b.Parent}},
		InPrivate:    other.OutPrivate, InPublic: other.OutPublic,
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	persist(t, tpm, loaded.ObjectHandle, loaded.Name)
	k = NewKeeper(nil)
	d, err := k.Seal(tpm, "k", Bind(sel), []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Parent, loaded.Name.Buffer) {
		t.Errorf("sealed under %x, want the new persistent key %x", d.Parent, loaded.Name.Buffer)
	}
	for want, o := range map[string]*Object{"a": a, "b": b, "d": d} {
		mustUnseal(t, k, tpm, o, want)
	}
	mustUnseal(t, k, tpm, &legacy, "a")
	if err := k.Close(tpm); err != nil {
		t.Fatal(err)
	}
	evictPersistent(t, tpm)
	// Without the persistent key, what was sealed under it alone is gone.
	if _, err := Unseal(tpm, nil, "k", d, nil); !errors.Is(err, ErrWrongTPM) {
		t.Errorf("object of an evicted SRK: %v, want ErrWrongTPM", err)
	}
	assertNoHandles(t, tpm, "persistent SRK")
}

// keeperOtherPersistent: a key at 0x81000001 that is not of the ECC SRK
// template (an RSA SRK) is left alone.
func keeperOtherPersistent(t *testing.T, tpm transport.TPM) {
	p := primary(t, tpm, tpm2.RSASRKTemplate)
	persist(t, tpm, p.ObjectHandle, p.Name)
	c := &countingTPM{TPM: tpm}
	k := NewKeeper(nil)
	obj, err := k.Seal(c, "k", Bind(mustParse(t, "")), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	expectCCs(t, c, "Keeper.Seal beside an RSA key at 0x81000001", []tpm2.TPMCC{rp, cp, sas, cr})
	if bytes.Equal(obj.Parent, p.Name.Buffer) {
		t.Errorf("sealed under the RSA key")
	}
	mustUnseal(t, k, tpm, obj, "x")
	if err := k.Close(tpm); err != nil {
		t.Fatal(err)
	}
	evictPersistent(t, tpm)
	assertNoHandles(t, tpm, "RSA persistent key")
}

// flushAll flushes every transient object and loaded session, as a raw
// client of the TPM (or TPM2_Clear, or a reset) would lose them.
func flushAll(t *testing.T, tpm transport.TPM) {
	t.Helper()
	for _, first := range []tpm2.TPMHandle{0x80000000, 0x02000000} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(first), PropertyCount: 64}.Execute(tpm)
		if err != nil {
			t.Fatal(err)
		}
		hs, _ := rsp.CapabilityData.Data.Handles()
		for _, h := range hs.Handle {
			if err := flush(tpm, h); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// dropResponse runs the commands with code cc on the TPM but loses their
// answers, as a broken connection does.
type dropResponse struct {
	transport.TPM
	cc tpm2.TPMCC
}

func (d *dropResponse) Send(cmd []byte) ([]byte, error) {
	rsp, err := d.TPM.Send(cmd)
	if err == nil && len(cmd) >= 10 && tpm2.TPMCC(uint32(cmd[6])<<24|uint32(cmd[7])<<16|uint32(cmd[8])<<8|uint32(cmd[9])) == d.cc {
		return nil, io.ErrUnexpectedEOF
	}
	return rsp, err
}

// keeperRecovers: what a Keeper keeps is lost behind its back (flushed by
// a raw client, its session's nonces out of step after a lost answer),
// and the next operations still succeed.
func keeperRecovers(t *testing.T, tpm transport.TPM) {
	k := NewKeeper(nil)
	for _, s := range []string{"sha256:7", ""} {
		obj, err := k.Seal(tpm, "k", Bind(mustParse(t, s)), []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		mustUnseal(t, k, tpm, obj, "secret")
		flushAll(t, tpm)
		mustUnseal(t, k, tpm, obj, "secret")
		flushAll(t, tpm)
		if obj, err = k.Seal(tpm, "k", Bind(mustParse(t, s)), []byte("again")); err != nil {
			t.Fatalf("Seal after the flush: %v", err)
		}
		mustUnseal(t, k, tpm, obj, "again")

		if _, err := k.Unseal(&dropResponse{TPM: tpm, cc: tpm2.TPMCCUnseal}, "k", obj, nil); err == nil {
			t.Fatal("Unseal with its answer lost succeeded")
		}
		c := &countingTPM{TPM: tpm}
		mustUnseal(t, k, c, obj, "again")
		if c.count(sas) == 0 {
			t.Errorf("pcrs %q: the session out of step was not replaced: %v", s, ccNames(c.cmds))
		}
	}
	if err := k.Close(tpm); err != nil {
		t.Fatal(err)
	}
	assertNoHandles(t, tpm, "recovered Keeper")
}

// keeperParent: WithSRK, on a transport from Keep, gives other keys the
// Keeper's SRK (with the empty auth value) and session, the SRK Seal
// uses, and costs no CreatePrimary once it is kept.
func keeperParent(t *testing.T, tpm transport.TPM) {
	k := NewKeeper(nil)
	obj, err := k.Seal(tpm, "k", Bind(mustParse(t, "")), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := tpm2.ECCSRKTemplate
	tmpl.ObjectAttributes.Restricted, tmpl.ObjectAttributes.Decrypt, tmpl.ObjectAttributes.SignEncrypt = true, false, true
	tmpl.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
		CurveID: tpm2.TPMECCNistP256,
	})
	c := &countingTPM{TPM: tpm}
	err = WithSRK(Keep(c, k), nil, func(p Parent) error {
		if !bytes.Equal(p.Handle().Name.Buffer, obj.Parent) {
			t.Errorf("WithSRK gave %x, Seal used %x", p.Handle().Name.Buffer, obj.Parent)
		}
		_, err := tpm2.Create{ParentHandle: p.Handle(), InPublic: tpm2.New2B(tmpl)}.Execute(c)
		return err
	})
	if err != nil {
		t.Fatalf("an attestation key under the kept SRK: %v", err)
	}
	expectCCs(t, c, "Create under WithSRK of a warm Keeper", []tpm2.TPMCC{cr})
	if err := k.Close(tpm); err != nil {
		t.Fatal(err)
	}
	// Without a Keeper it makes the SRK and flushes it.
	if err := WithSRK(c, nil, func(p Parent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	expectCCs(t, c, "WithSRK, one-shot", []tpm2.TPMCC{rp, cp, sas, fl, fl})
	assertNoHandles(t, tpm, "WithSRK")
}
