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

// Command codes, short, for the tables below.
const (
	rp  = tpm2.TPMCCReadPublic
	cp  = tpm2.TPMCCCreatePrimary
	rd  = tpm2.TPMCCPCRRead
	sas = tpm2.TPMCCStartAuthSession
	cr  = tpm2.TPMCCCreate
	ld  = tpm2.TPMCCLoad
	pp  = tpm2.TPMCCPolicyPCR
	us  = tpm2.TPMCCUnseal
	fl  = tpm2.TPMCCFlushContext
)

// commandCount pins the commands each operation sends (doc.go): one-shot
// (the cold path: nothing kept), and through a Keeper once it keeps its
// key and session (the warm path).
func commandCount(t *testing.T, tpm transport.TPM) {
	c := &countingTPM{TPM: tpm}
	for _, tc := range []struct {
		sel                  string
		seal, open           []tpm2.TPMCC // one-shot
		warmSeal, warmUnseal []tpm2.TPMCC // a Keeper's, warm
	}{
		{"sha256:0,7",
			[]tpm2.TPMCC{rp, cp, sas, rd, cr, fl, fl},
			[]tpm2.TPMCC{rp, cp, sas, ld, sas, pp, us, fl, fl, fl},
			[]tpm2.TPMCC{rd, cr},
			[]tpm2.TPMCC{ld, sas, pp, us, fl}},
		{"",
			[]tpm2.TPMCC{rp, cp, sas, cr, fl, fl},
			[]tpm2.TPMCC{rp, cp, sas, ld, us, fl, fl, fl},
			[]tpm2.TPMCC{cr},
			[]tpm2.TPMCC{ld, us, fl}},
	} {
		c.cmds = nil
		obj, err := Seal(c, nil, "n", Bind(mustParse(t, tc.sel)), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		expectCCs(t, c, fmt.Sprintf("Seal(%q)", tc.sel), tc.seal)
		if _, err := Unseal(c, nil, "n", obj, nil); err != nil {
			t.Fatal(err)
		}
		expectCCs(t, c, fmt.Sprintf("Unseal(%q)", tc.sel), tc.open)

		k := NewKeeper(nil)
		if _, err := k.Seal(c, "n", Bind(mustParse(t, tc.sel)), []byte("x")); err != nil {
			t.Fatal(err)
		}
		expectCCs(t, c, fmt.Sprintf("Keeper.Seal(%q), cold", tc.sel), append([]tpm2.TPMCC{rp, cp, sas}, tc.warmSeal...))
		for range 2 {
			if obj, err = k.Seal(c, "n", Bind(mustParse(t, tc.sel)), []byte("x")); err != nil {
				t.Fatal(err)
			}
			expectCCs(t, c, fmt.Sprintf("Keeper.Seal(%q), warm", tc.sel), tc.warmSeal)
			if got, err := k.Unseal(c, "n", obj, nil); err != nil || string(got) != "x" {
				t.Fatalf("Keeper.Unseal: %q, %v", got, err)
			}
			expectCCs(t, c, fmt.Sprintf("Keeper.Unseal(%q), warm", tc.sel), tc.warmUnseal)
		}
		if err := k.Close(c); err != nil {
			t.Fatal(err)
		}
		expectCCs(t, c, "Keeper.Close", []tpm2.TPMCC{fl, fl})
		assertNoHandles(t, tpm, "Keeper.Close")
	}
	// 48 PCRs take several PCR_Reads: a TPM returns at most 8 digests each.
	c.cmds = nil
	obj, err := Seal(c, nil, "n", Bind(mustParse(t, "sha1:all+sha256:all")), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.count(rd); n < 6 || len(obj.PCRValues) != 48 {
		t.Errorf("48 PCRs: %d PCR_Reads, %d values", n, len(obj.PCRValues))
	}
	t.Logf("48 PCRs: %d PCR_Reads", c.count(rd))
}

// expectCCs compares what c recorded since the last call with want.
func expectCCs(t *testing.T, c *countingTPM, what string, want []tpm2.TPMCC) {
	t.Helper()
	if !equalCCs(c.cmds, want) {
		t.Errorf("%s sent %v, want %v", what, ccNames(c.cmds), ccNames(want))
	} else {
		t.Logf("%s: %v", what, ccNames(want))
	}
	c.cmds = nil
}

func ccNames(ccs []tpm2.TPMCC) []string {
	names := map[tpm2.TPMCC]string{rp: "ReadPublic", cp: "CreatePrimary", rd: "PCR_Read", sas: "StartAuthSession",
		cr: "Create", ld: "Load", pp: "PolicyPCR", us: "Unseal", fl: "FlushContext"}
	var out []string
	for _, cc := range ccs {
		if n, ok := names[cc]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("0x%x", uint32(cc)))
		}
	}
	return out
}

func equalCCs(a, b []tpm2.TPMCC) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pcrChanged makes a PCR outside the selection move between
// PolicyPCR and Unseal: the TPM answers TPM_RC_PCR_CHANGED and Unseal
// retries, a bounded number of times.
func pcrChanged(t *testing.T, sim transport.TPM) {
	obj, err := Seal(sim, nil, "c", Bind(mustParse(t, "sha256:0,7")), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	interrupts := 0
	c := &countingTPM{TPM: sim}
	c.before = func(cc tpm2.TPMCC) {
		if cc == tpm2.TPMCCUnseal && interrupts > 0 {
			interrupts--
			extend(t, sim, pcrsel.SHA256, 1, readPCR(t, sim, pcrsel.SHA256, 1), []byte("tick"))
		}
	}
	interrupts = 2
	if got, err := Unseal(c, nil, "c", obj, nil); err != nil || string(got) != "x" {
		t.Fatalf("Unseal with 2 PCR changes: %q, %v", got, err)
	}
	if n := c.count(tpm2.TPMCCUnseal); n != 3 {
		t.Errorf("Unseal sent %d TPM2_Unseal, want 3", n)
	}
	assertNoHandles(t, sim, "retried Unseal")

	c.cmds, interrupts = nil, 1000
	_, err = Unseal(c, nil, "c", obj, nil)
	if !errors.Is(err, tpm2.TPMRCPCRChanged) {
		t.Errorf("Unseal with PCRs changing forever: %v, want TPM_RC_PCR_CHANGED", err)
	}
	if n := c.count(tpm2.TPMCCUnseal); n != maxPCRChangedRetries+1 {
		t.Errorf("gave up after %d attempts, want %d", n, maxPCRChangedRetries+1)
	}
	assertNoHandles(t, sim, "abandoned Unseal")
}

func inactiveBank(t *testing.T, tpm transport.TPM) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapPCRs, PropertyCount: 1}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	pcrs, err := rsp.CapabilityData.Data.AssignedPCR()
	if err != nil {
		t.Fatal(err)
	}
	active := map[tpm2.TPMAlgID]bool{}
	for _, s := range pcrs.PCRSelections {
		for _, b := range s.PCRSelect {
			if b != 0 {
				active[s.Hash] = true
			}
		}
	}
	for _, b := range pcrsel.Banks() {
		if active[b.Alg] {
			continue
		}
		sel := mustParse(t, b.Name+":0+sha256:0")
		if _, err := Seal(tpm, nil, "i", Bind(sel), []byte("x")); !errors.Is(err, ErrPCRUnavailable) {
			t.Errorf("Seal to inactive bank %s: %v, want ErrPCRUnavailable", b, err)
		}
		assertNoHandles(t, tpm, "Seal to inactive bank")
		return
	}
	t.Skip("every bank is active on this TPM")
}

// keyNeverInClear: the envelope key is in no command or response of Seal
// and Unseal (parameter encryption), yet is what a plain unseal returns,
// and it opens the envelope as doc.go describes.
func keyNeverInClear(t *testing.T, tpm transport.TPM) {
	rec := &recordingTPM{TPM: tpm}
	for _, s := range []string{"sha256:0,7", ""} {
		secret := []byte("the secret for " + s)
		obj, err := Seal(rec, nil, "k", Bind(mustParse(t, s)), secret)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Unseal(rec, nil, "k", obj, nil); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Unseal: %q, %v", got, err)
		}
		key := clearUnseal(t, tpm, obj)
		if len(key) != 32 {
			t.Fatalf("pcrs %q: sealed key is %d bytes, want 32", s, len(key))
		}
		if bytes.Contains(rec.traffic.Bytes(), key) {
			t.Errorf("pcrs %q: the envelope key crossed the transport in the clear", s)
		}
		if got := openEnvelope(t, key, "k", obj); !bytes.Equal(got, secret) {
			t.Errorf("pcrs %q: envelope opened to %q", s, got)
		}
		assertNoHandles(t, tpm, "clear unseal")
	}
}

// pcrReadRace moves a PCR already read while Seal is still reading the
// rest of a large selection: Seal must start over, so that the object is
// bound to values the PCRs really had together, and opens.
func pcrReadRace(t *testing.T, tpm transport.TPM) {
	reads := 0
	c := &countingTPM{TPM: tpm}
	c.before = func(cc tpm2.TPMCC) {
		if cc == tpm2.TPMCCPCRRead {
			if reads++; reads == 2 {
				extend(t, tpm, pcrsel.SHA1, 0, readPCR(t, tpm, pcrsel.SHA1, 0), []byte("race"))
			}
		}
	}
	obj, err := Seal(c, nil, "race", Bind(mustParse(t, "sha1:all+sha256:all")), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := obj.PCRValues[0]; got.String() != "sha1:0" || !bytes.Equal(got.Digest, readPCR(t, tpm, pcrsel.SHA1, 0)) {
		t.Errorf("sealed to %s = %x, not its value after the race", got, got.Digest)
	}
	if got, err := Unseal(tpm, nil, "race", obj, nil); err != nil || string(got) != "x" {
		t.Errorf("object sealed during a PCR change: %q, %v", got, err)
	}
	t.Logf("%d PCR_Reads with one restart", c.count(tpm2.TPMCCPCRRead))
}
