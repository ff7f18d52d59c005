package rm

import (
	"slices"
	"testing"

	gtsim "github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// TestTPMResetVoidsContexts: after a TPM reset (as after a reconnect to a
// restarted swtpm) every saved context is void. The manager drops them as
// clients touch them, with an error response, and a space never flushes a
// session handle the TPM has since given to another client.
func TestTPMResetVoidsContexts(t *testing.T) {
	sim, err := gtsim.Get()
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	tpm := transport.FromReadWriter(sim)
	m := newManager(t, tpm)

	a := newClient(m, tpm)
	k := createPrimary(t, a, eccSigningKey("before reset"))
	aSess, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("HMACSession: %v", err)
	}
	if err := sim.Reset(); err != nil {
		t.Fatalf("TPM reset: %v", err)
	}

	// The stale object fails to load: an RM-layer error, then it is gone.
	_, err = tpm2.ReadPublic{ObjectHandle: k.ObjectHandle}.Execute(a)
	if rc := rcOf(t, err); rc&0xFFFF0000 != 0xB0000 || rc == rmHandle1 {
		t.Errorf("stale object: rc 0x%x, want an RM-layer load failure", uint32(rc))
	}
	_, err = tpm2.ReadPublic{ObjectHandle: k.ObjectHandle}.Execute(a)
	if rc := rcOf(t, err); rc != rmHandle1 {
		t.Errorf("stale object again: rc 0x%x, want 0x%x", uint32(rc), rmHandle1)
	}
	// A's session vanished too; the manager finds out when it touches it.
	if err := m.SwapOut(tpm); err != nil {
		t.Fatal(err)
	}
	assertNothingLoaded(t, tpm)

	// The restarted TPM hands A's session handle to B, whose client saves
	// the session for a later process.
	b := newClient(m, tpm)
	bSess, _, err := tpm2.HMACSession(b, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("HMACSession in B: %v", err)
	}
	if bSess.Handle() != aSess.Handle() {
		t.Fatalf("B's session 0x%08x differs from A's stale 0x%08x; the test needs them equal",
			uint32(bSess.Handle()), uint32(aSess.Handle()))
	}
	saved, err := tpm2.ContextSave{SaveHandle: bSess.Handle()}.Execute(b)
	if err != nil {
		t.Fatalf("ContextSave: %v", err)
	}
	b.close(t)
	a.close(t) // must not flush B's session under A's stale handle
	want := 0x02000000 | uint32(bSess.Handle())&0xFFFFFF
	if hs := tpmHandles(t, tpm, capSavedSession); !slices.Equal(hs, []uint32{want}) {
		t.Fatalf("saved sessions %08x, want [%08x]", hs, want)
	}
	c := newClient(m, tpm)
	if _, err := (tpm2.ContextLoad{Context: saved.Context}).Execute(c); err != nil {
		t.Fatalf("ContextLoad of B's session: %v", err)
	}
	c.close(t)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("sessions left: %08x", hs)
	}
}
