package tpmcore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	gtsim "github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tddl"
	"tpmfs/tpmcore/sealing"
)

// countedSim is the simulator as a connection that survives Close (as a
// swtpm does), recording the command codes the core sends.
type countedSim struct {
	sim *gtsim.Simulator
	tpm transport.TPM

	mu   sync.Mutex
	cmds []tpm2.TPMCC
}

func newCountedSim(t *testing.T) *countedSim {
	t.Helper()
	sim, err := gtsim.Get()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return &countedSim{sim: sim, tpm: transport.FromReadWriter(sim)}
}

func (s *countedSim) Send(cmd []byte) ([]byte, error) {
	s.mu.Lock()
	s.cmds = append(s.cmds, tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10])))
	s.mu.Unlock()
	return s.tpm.Send(cmd)
}

func (s *countedSim) Close() error { return nil }

// take returns the commands sent since the last take.
func (s *countedSim) take() []tpm2.TPMCC {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmds := s.cmds
	s.cmds = nil
	return cmds
}

// core starts a Core on s (a new one each time, as a remount).
func (s *countedSim) core(t *testing.T) *Core {
	t.Helper()
	c, err := New(func() (tddl.TPM, error) { return s, nil }, Options{Source: "sim:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.take()
	return c
}

// direct runs fn on the TPM beside the core, as another user of it.
func (s *countedSim) direct(t *testing.T, fn func(tpm transport.TPM)) {
	t.Helper()
	fn(s.tpm)
}

func names(ccs []tpm2.TPMCC) string {
	short := map[tpm2.TPMCC]string{
		tpm2.TPMCCReadPublic: "ReadPublic", tpm2.TPMCCCreatePrimary: "CreatePrimary", tpm2.TPMCCPCRRead: "PCR_Read",
		tpm2.TPMCCStartAuthSession: "StartAuthSession", tpm2.TPMCCCreate: "Create", tpm2.TPMCCLoad: "Load",
		tpm2.TPMCCPolicyPCR: "PolicyPCR", tpm2.TPMCCUnseal: "Unseal", tpm2.TPMCCFlushContext: "FlushContext",
		tpm2.TPMCCGetCapability: "GetCapability", tpm2.TPMCCContextSave: "ContextSave", tpm2.TPMCCContextLoad: "ContextLoad",
	}
	var out []string
	for _, cc := range ccs {
		if n, ok := short[cc]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("0x%x", uint32(cc)))
		}
	}
	return fmt.Sprint(out)
}

// TestSealCommandsWarmAndCold pins what the core sends per operation: a
// cold seal or unseal (the first after the mount) probes 0x81000001 and
// makes the storage root key and the salted session, once; warm ones
// reuse both; SealReady with a key kept sends nothing.
func TestSealCommandsWarmAndCold(t *testing.T) {
	s := newCountedSim(t)
	c := s.core(t)
	ctx := context.Background()
	sel, err := c.ParseSelection("sha256:16")
	if err != nil {
		t.Fatal(err)
	}
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
		gc  = tpm2.TPMCCGetCapability
	)
	expect := func(what string, want ...tpm2.TPMCC) {
		t.Helper()
		if got := s.take(); !slices.Equal(got, want) {
			t.Errorf("%s sent %s, want %s", what, names(got), names(want))
		}
	}
	if err := c.SealReady(ctx); err != nil {
		t.Fatal(err)
	}
	// The resource manager reads the command attributes and slots once.
	expect("SealReady, cold", gc, gc, rp, cp)
	obj, err := c.Seal(ctx, "k", Bind(sel), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	expect("Seal, the first", sas, rd, cr)
	for range 3 {
		c.sealReady.Store(0) // past its cache
		if err := c.SealReady(ctx); err != nil {
			t.Fatal(err)
		}
		expect("SealReady, warm")
		if obj, err = c.Seal(ctx, "k", Bind(sel), []byte("x")); err != nil {
			t.Fatal(err)
		}
		expect("Seal, warm", rd, cr)
		if got, err := c.Unseal(ctx, "k", obj, nil); err != nil || string(got) != "x" {
			t.Fatalf("Unseal: %q, %v", got, err)
		}
		expect("Unseal, warm", ld, sas, pp, us, fl)
	}
	if len(obj.Parent) == 0 {
		t.Errorf("no parent recorded")
	}
	c.Close()
	// What the core kept, it flushed as it closed.
	expect("Close", fl, fl)

	c = s.core(t)
	if got, err := c.Unseal(ctx, "k", obj, nil); err != nil || string(got) != "x" {
		t.Fatalf("Unseal after a new start: %q, %v", got, err)
	}
	expect("Unseal, the first after a new start", gc, gc, rp, cp, sas, ld, sas, pp, us, fl)
}

// TestSealSurvivesLostState: what the core keeps in the TPM is lost
// behind its back (flushed by another user of the TPM, a TPM reset, a
// TPM2_Clear by root through tpmrm0, a new persistent SRK), and the next
// seals and unseals succeed without an error reaching the caller.
func TestSealSurvivesLostState(t *testing.T) {
	s := newCountedSim(t)
	c := s.core(t)
	ctx := context.Background()
	sel, err := c.ParseSelection("sha256:16")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.Seal(ctx, "k", Bind(sel), []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(what string) {
		t.Helper()
		if got, err := c.Unseal(ctx, "k", obj, nil); err != nil || string(got) != "before" {
			t.Fatalf("%s: Unseal %q, %v", what, got, err)
		}
		o, err := c.Seal(ctx, "k", Bind(sel), []byte("after"))
		if err != nil {
			t.Fatalf("%s: Seal: %v", what, err)
		}
		if got, err := c.Unseal(ctx, "k", o, nil); err != nil || string(got) != "after" {
			t.Fatalf("%s: Unseal of a new object %q, %v", what, got, err)
		}
	}
	roundTrip("warm")

	// Another user of the TPM flushes everything.
	s.direct(t, func(tpm transport.TPM) {
		hs, err := listLoaded(tpm)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) == 0 {
			t.Fatal("nothing kept to lose")
		}
		for _, h := range hs {
			if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(tpm); err != nil {
				t.Fatal(err)
			}
		}
	})
	roundTrip("after a flush by another client")

	// The TPM is reset (power lost): it wants TPM2_Startup again.
	if err := s.sim.Reset(); err != nil {
		t.Fatal(err)
	}
	roundTrip("after a TPM reset")

	// Root, through tpmrm0, makes the template primary persistent at
	// 0x81000001: the next seal goes under it, with no CreatePrimary.
	root, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	rt := clientTPM{root}
	p, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(rt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.EvictControl{Auth: tpm2.TPMRHOwner, ObjectHandle: &tpm2.NamedHandle{Handle: p.ObjectHandle, Name: p.Name},
		PersistentHandle: sealing.PersistentSRK}).Execute(rt); err != nil {
		t.Fatal(err)
	}
	s.take()
	persistent, err := c.Seal(ctx, "k", Bind(sel), []byte("persistent"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(persistent.Parent, p.Name.Buffer) {
		t.Errorf("sealed under %x after EvictControl, want 0x81000001's %x", persistent.Parent, p.Name.Buffer)
	}
	if slices.Contains(s.take(), tpm2.TPMCCCreatePrimary) {
		t.Error("a seal under the persistent SRK made a primary")
	}
	roundTrip("under the persistent SRK") // obj was made under the same key

	// Root clears the TPM through tpmrm0: objects sealed before are gone
	// with the old seeds, and new ones work at once.
	if _, err := (tpm2.Clear{AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHLockout, Auth: tpm2.PasswordAuth(nil)}}).Execute(rt); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if _, err := c.Unseal(ctx, "k", obj, nil); !errors.Is(err, ErrWrongTPM) {
		t.Errorf("an object of before TPM2_Clear: %v, want ErrWrongTPM", err)
	}
	obj, err = c.Seal(ctx, "k", Bind(sel), []byte("before"))
	if err != nil {
		t.Fatalf("Seal after TPM2_Clear: %v", err)
	}
	roundTrip("after TPM2_Clear")
	if hs := transients(t, c); len(hs) != 0 {
		t.Errorf("left in the TPM: %x", hs)
	}
}

// TestAttestationKeysUnderTheKeptSRK: an attestation key loads under the
// storage root key the core keeps, so a quote once it is kept sends no
// CreatePrimary and no salted session.
func TestAttestationKeysUnderTheKeptSRK(t *testing.T) {
	s := newCountedSim(t)
	c := s.core(t)
	ctx := context.Background()
	ak, err := c.CreateAK(ctx, AKECC)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := c.ParseSelection("sha256:0,7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Quote(ctx, ak, sel, []byte("nonce")); err != nil {
		t.Fatal(err)
	}
	s.take()
	if _, err := c.Quote(ctx, ak, sel, []byte("nonce")); err != nil {
		t.Fatal(err)
	}
	got := s.take()
	if slices.Contains(got, tpm2.TPMCCCreatePrimary) || slices.Contains(got, tpm2.TPMCCStartAuthSession) {
		t.Errorf("a warm quote sent %s", names(got))
	}
	t.Logf("a warm quote: %s", names(got))
}
