package sealing

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
)

func init() {
	scenarios = append(scenarios,
		scenario{"Predicted", predicted},
		scenario{"SignedRSA", func(t *testing.T, tpm transport.TPM) { signed(t, tpm, "rsa") }},
		scenario{"SignedECC", func(t *testing.T, tpm transport.TPM) { signed(t, tpm, "ecc") }},
		scenario{"SignedAndPCRs", signedAndPCRs},
		scenario{"Inspect", inspect},
	)
}

// predicted seals to a value of PCR 16 computed here (after two known
// extends) beside PCR 0's current one: the TPM refuses the key until PCR
// 16 gets there, then opens it; the policy is the TPM's own for those
// values.
func predicted(t *testing.T, tpm transport.TPM) {
	old := readPCR(t, tpm, pcrsel.SHA256, 16)
	h := extendSHA256(extendSHA256(old, "kernel"), "initrd")
	spec := mustSpec(t, fmt.Sprintf("sha256:0,16=%x", h))
	obj, err := Seal(tpm, nil, "p", Binding{PCRs: spec}, []byte("later"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoHandles(t, tpm, "Seal")
	pcr0 := readPCR(t, tpm, pcrsel.SHA256, 0)
	if obj.Selection != "sha256:0,16" || len(obj.PCRValues) != 2 ||
		!bytes.Equal(obj.PCRValues[0].Digest, pcr0) || !bytes.Equal(obj.PCRValues[1].Digest, h) {
		t.Fatalf("sealed to %q %v, want sha256:0 = current, sha256:16 = %x", obj.Selection, obj.PCRValues, h)
	}
	if want := trialPolicyPCR(t, tpm, spec.Selection(), pcr0, h); !bytes.Equal(obj.Policy, want) {
		t.Errorf("policy %x, trial session over the predicted values %x", obj.Policy, want)
	}
	for i, step := range []string{"kernel", "initrd"} {
		_, err := Unseal(tpm, nil, "p", obj, nil)
		var pe *PolicyError
		if !errors.As(err, &pe) || len(pe.Differ) != 1 || pe.Differ[0].String() != "sha256:16" {
			t.Fatalf("Unseal after %d of 2 extends: %v, want a policy failure naming sha256:16", i, err)
		}
		assertNoHandles(t, tpm, "failed Unseal")
		extend(t, tpm, pcrsel.SHA256, 16, readPCR(t, tpm, pcrsel.SHA256, 16), []byte(step))
	}
	if got, err := Unseal(tpm, nil, "p", obj, nil); err != nil || string(got) != "later" {
		t.Fatalf("Unseal at the predicted value: %q, %v", got, err)
	}
	// Reseal to another prediction keeps the secret; the old one stays
	// valid until replaced.
	next := extendSHA256(h, "next")
	moved, err := Reseal(tpm, nil, "p", obj, nil, Binding{PCRs: mustSpec(t, fmt.Sprintf("sha256:16=%x", next))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unseal(tpm, nil, "p", moved, nil); !errors.Is(err, ErrPolicy) {
		t.Errorf("resealed to the next value, unsealed now: %v", err)
	}
	extend(t, tpm, pcrsel.SHA256, 16, h, []byte("next"))
	if got, err := Unseal(tpm, nil, "p", moved, nil); err != nil || string(got) != "later" {
		t.Errorf("resealed object at its value: %q, %v", got, err)
	}
	assertNoHandles(t, tpm, "predicted")
}

// signed seals under an authkey alone: without a signed policy, or with
// one for other PCR values, the key stays shut; a policy signed for the
// current value of PCR 11 opens it, and after PCR 11 moves, a new
// signature opens it again with no reseal.
func signed(t *testing.T, tpm transport.TPM, keyName string) {
	s := testSigner(t, keyName)
	obj, err := Seal(tpm, nil, "s", Binding{AuthKey: s.key}, []byte("uki secret"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoHandles(t, tpm, "Seal")
	if !bytes.Equal(obj.AuthKey, s.key.DER) || obj.Selection != "" || len(obj.PCRValues) != 0 {
		t.Errorf("object: authkey %x pcrs %q values %v", obj.AuthKey, obj.Selection, obj.PCRValues)
	}
	if want := trialAuthorized(t, tpm, s.key, pcrsel.Selection{}); !bytes.Equal(obj.Policy, want) {
		t.Errorf("policy %x, TPM's PolicyAuthorize by the key %x", obj.Policy, want)
	}
	checkPublic(t, obj, true)

	var pe *PolicyError
	if _, err := Unseal(tpm, nil, "s", obj, nil); !errors.As(err, &pe) || !pe.Signed || len(pe.Unsigned) != 0 {
		t.Fatalf("Unseal without a signed policy: %v, want ErrPolicy with no usable policy", err)
	}
	sel11 := mustParse(t, "sha256:11")
	cur := readPCR(t, tpm, pcrsel.SHA256, 11)
	next := extendSHA256(cur, "enter-initrd")
	polNow := trialPolicyPCR(t, tpm, sel11, cur)
	polNext := trialPolicyPCR(t, tpm, sel11, next)
	// Signed for the next value only, and a sha1-bank policy for now
	// (which the TPM cannot take for a SHA-256 key): shut.
	sha1Now := trialPolicyPCR(t, tpm, mustParse(t, "sha1:11"), readPCR(t, tpm, pcrsel.SHA1, 11))
	onlyNext := s.set(t, map[string][]string{
		"sha256": {s.entry(t, sel11, polNext)},
		"sha1":   {s.entry(t, mustParse(t, "sha1:11"), sha1Now)},
	})
	if _, err := Unseal(tpm, nil, "s", obj, onlyNext); !errors.As(err, &pe) || len(pe.Unsigned) != 1 ||
		pe.Unsigned[0].String() != "sha256:11" || !bytes.Equal(pe.Unsigned[0].Digest, cur) {
		t.Fatalf("Unseal with a policy for the next value only: %v, want ErrPolicy naming sha256:11", err)
	}
	assertNoHandles(t, tpm, "refused Unseal")
	both := s.set(t, map[string][]string{"sha256": {s.entry(t, sel11, polNext), s.entry(t, sel11, polNow)}})
	c := &countingTPM{TPM: tpm}
	if got, err := Unseal(c, nil, "s", obj, both); err != nil || string(got) != "uki secret" {
		t.Fatalf("Unseal with a policy for the current value: %q, %v", got, err)
	}
	// One-shot: ReadPublic (0x81000001), CreatePrimary, StartAuthSession
	// (salted), Load, PCR_Read, LoadExternal, VerifySignature,
	// FlushContext, StartAuthSession (policy), PolicyPCR, PolicyAuthorize,
	// Unseal, FlushContext x3 (the key, the session, the SRK).
	want := []tpm2.TPMCC{tpm2.TPMCCReadPublic, tpm2.TPMCCCreatePrimary, tpm2.TPMCCStartAuthSession, tpm2.TPMCCLoad,
		tpm2.TPMCCPCRRead, tpm2.TPMCCLoadExternal, tpm2.TPMCCVerifySignature, tpm2.TPMCCFlushContext,
		tpm2.TPMCCStartAuthSession, tpm2.TPMCCPolicyPCR, tpm2.TPMCCPolicyAuthorize, tpm2.TPMCCUnseal,
		tpm2.TPMCCFlushContext, tpm2.TPMCCFlushContext, tpm2.TPMCCFlushContext}
	if !equalCCs(c.cmds, want) {
		t.Errorf("signed Unseal sent %v, want %v", c.cmds, want)
	}
	assertNoHandles(t, tpm, "signed Unseal")

	// PCR 11 moves to the next value: the policy for it opens, no reseal.
	extend(t, tpm, pcrsel.SHA256, 11, cur, []byte("enter-initrd"))
	if got, err := Unseal(tpm, nil, "s", obj, both); err != nil || string(got) != "uki secret" {
		t.Fatalf("Unseal after the next phase: %q, %v", got, err)
	}
	extend(t, tpm, pcrsel.SHA256, 11, next, []byte("leave-initrd"))
	if _, err := Unseal(tpm, nil, "s", obj, both); !errors.Is(err, ErrPolicy) {
		t.Fatalf("Unseal past the signed phases: %v, want ErrPolicy", err)
	}
	// A signature altered after it was checked is the TPM's to refuse:
	// the object is then corrupt, not a policy failure.
	bad := s.set(t, map[string][]string{"sha256": {s.entry(t, sel11, trialPolicyPCR(t, tpm, sel11, readPCR(t, tpm, pcrsel.SHA256, 11)))}})
	bad.Policies[0].Sig[len(bad.Policies[0].Sig)-1] ^= 1
	if _, err := Unseal(tpm, nil, "s", obj, bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Unseal with an altered signature: %v, want ErrCorrupt", err)
	}
	assertNoHandles(t, tpm, "altered signature")
	// Another key's authorization does not open it, even with a matching
	// policy: the key is part of the policy.
	other := testSigner(t, "rsa2")
	otherObj, err := Seal(tpm, nil, "s", Binding{AuthKey: other.key}, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	otherObj.AuthKey = s.key.DER // as if the state file were edited
	if _, err := Unseal(tpm, nil, "s", otherObj, both); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Unseal with the authkey swapped: %v, want ErrCorrupt", err)
	}
}

// signedAndPCRs seals under an authkey and PCR 16's current value: the
// key needs both a signed policy for PCR 11 and PCR 16 unchanged.
func signedAndPCRs(t *testing.T, tpm transport.TPM) {
	s := testSigner(t, "ecc")
	pcr16 := readPCR(t, tpm, pcrsel.SHA256, 16)
	obj, err := Seal(tpm, nil, "b", Binding{PCRs: mustSpec(t, "sha256:16"), AuthKey: s.key}, []byte("both"))
	if err != nil {
		t.Fatal(err)
	}
	if want := trialAuthorized(t, tpm, s.key, mustParse(t, "sha256:16"), pcr16); !bytes.Equal(obj.Policy, want) {
		t.Errorf("policy %x, TPM's PolicyAuthorize then PolicyPCR %x", obj.Policy, want)
	}
	sel11 := mustParse(t, "sha256:11")
	sigs := s.set(t, map[string][]string{"sha256": {s.entry(t, sel11, trialPolicyPCR(t, tpm, sel11, readPCR(t, tpm, pcrsel.SHA256, 11)))}})
	if got, err := Unseal(tpm, nil, "b", obj, sigs); err != nil || string(got) != "both" {
		t.Fatalf("Unseal: %q, %v", got, err)
	}
	extend(t, tpm, pcrsel.SHA256, 16, pcr16, []byte("x"))
	var pe *PolicyError
	if _, err := Unseal(tpm, nil, "b", obj, sigs); !errors.As(err, &pe) || len(pe.Differ) != 1 || pe.Differ[0].String() != "sha256:16" {
		t.Fatalf("Unseal after PCR 16 moved: %v, want a policy failure naming sha256:16", err)
	}
	assertNoHandles(t, tpm, "signed and PCRs")
}

// inspect reports, for an object sealed to PCR 0's current value and a
// predicted value of PCR 16 under an authkey, which PCRs differ (with
// both values), which signed policies match, and that the object is this
// TPM's, with and without its recorded parent; all before and after data
// is sealed, leaving nothing loaded.
func inspect(t *testing.T, tpm transport.TPM) {
	s := testSigner(t, "rsa")
	pcr0, pcr16 := readPCR(t, tpm, pcrsel.SHA256, 0), readPCR(t, tpm, pcrsel.SHA256, 16)
	h := extendSHA256(pcr16, "kernel")
	b := Binding{PCRs: mustSpec(t, fmt.Sprintf("sha256:0,16=%x", h)), AuthKey: s.key}
	sel11 := mustParse(t, "sha256:11")
	pcr11 := readPCR(t, tpm, pcrsel.SHA256, 11)
	sigs := s.set(t, map[string][]string{"sha256": {
		s.entry(t, sel11, trialPolicyPCR(t, tpm, sel11, extendSHA256(pcr11, "x"))),
		s.entry(t, sel11, trialPolicyPCR(t, tpm, sel11, pcr11)),
	}})

	// Nothing sealed yet: PCR 0 has no fixed value, PCR 16 a given one.
	r, err := Inspect(tpm, nil, b, nil, sigs)
	if err != nil {
		t.Fatal(err)
	}
	assertNoHandles(t, tpm, "Inspect")
	if len(r.PCRs) != 2 || r.PCRs[0].Want != nil || !r.PCRs[0].Matches() || r.PCRs[0].Given ||
		!bytes.Equal(r.PCRs[1].Want, h) || !bytes.Equal(r.PCRs[1].Digest, pcr16) || !r.PCRs[1].Given || r.PCRs[1].Matches() {
		t.Errorf("before sealing: PCRs %+v", r.PCRs)
	}
	if r.Belongs != BelongsUnknown || len(r.Parent) == 0 {
		t.Errorf("before sealing: belongs %v, parent %x", r.Belongs, r.Parent)
	}
	if len(r.Signed) != 2 || r.Signed[0].Matches || !r.Signed[1].Matches || !r.Signed[1].Usable ||
		len(r.SignedNow) != 1 || !bytes.Equal(r.SignedNow[0].Digest, pcr11) {
		t.Errorf("signed checks %+v, now %v", r.Signed, r.SignedNow)
	}

	obj, err := Seal(tpm, nil, "i", b, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	r, err = Inspect(tpm, nil, b, obj, sigs)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.PCRs) != 2 || !bytes.Equal(r.PCRs[0].Want, pcr0) || !r.PCRs[0].Matches() || r.PCRs[1].Matches() {
		t.Errorf("sealed: PCRs %+v", r.PCRs)
	}
	if r.Belongs != BelongsHere || !bytes.Equal(r.Parent, obj.Parent) {
		t.Errorf("sealed: belongs %v (%s), parent %x, object's %x", r.Belongs, r.Why, r.Parent, obj.Parent)
	}
	extend(t, tpm, pcrsel.SHA256, 16, pcr16, []byte("kernel"))
	old := *obj
	old.Parent = nil // as sealed before tpmfs recorded it
	if r, err = Inspect(tpm, nil, b, &old, nil); err != nil || !r.PCRs[1].Matches() || r.Belongs != BelongsHere || r.Signed != nil {
		t.Errorf("after the predicted extend, no parent recorded: %+v, %v", r, err)
	}
	assertNoHandles(t, tpm, "Inspect")
}
