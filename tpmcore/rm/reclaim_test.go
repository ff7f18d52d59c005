package rm

import (
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// startSession starts a session on the TPM itself, as tpmcore's sealing
// does, and flushes it; it returns the response code.
func startSession(t *testing.T, tpm transport.TPM) tpm2.TPMRC {
	t.Helper()
	s, closer, err := tpm2.HMACSession(tpm, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		return rcOf(t, err)
	}
	_ = s
	if err := closer(); err != nil {
		t.Fatalf("flush session: %v", err)
	}
	return tpm2.TPMRCSuccess
}

// TestReclaimOrphansForTheCaller is finding 8 of issue 11 at the manager:
// clients that saved sessions and left fill every session handle of the
// TPM; the manager's caller, which meets TPM_RC_SESSION_HANDLES, gets one
// back from Reclaim, the oldest orphan first.
func TestReclaimOrphansForTheCaller(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	blobs := fillWithOrphans(t, m, tpm)
	if rc := startSession(t, tpm); rc != tpm2.TPMRCSessionHandles {
		t.Fatalf("a session with the TPM full of orphans: rc 0x%x, want SESSION_HANDLES", uint32(rc))
	}
	ok, err := m.Reclaim(tpm)
	if err != nil || !ok {
		t.Fatalf("Reclaim = %v, %v", ok, err)
	}
	if rc := startSession(t, tpm); rc != tpm2.TPMRCSuccess {
		t.Errorf("a session after Reclaim: rc 0x%x", uint32(rc))
	}
	c := newClient(m, tpm)
	if _, err := (tpm2.ContextLoad{Context: blobs[0]}).Execute(c); err == nil {
		t.Errorf("the oldest orphan still loads; Reclaim should have flushed it")
	}
	c.close(t)
}

// TestReclaimRestrictedNotAdmins: when non-admin users' open spaces hold
// every session handle, Reclaim takes one of theirs; an admin's are
// left alone.
func TestReclaimRestrictedNotAdmins(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	restricted(m, nil) // no per-uid quota: only the per-open limit
	max := tpmProperty(t, tpm, tpm2.TPMPTActiveSessionsMax)
	root := newClient(m, tpm)
	var users []*client
	for n := 0; n < max; {
		u := mustClientAs(t, m, root, userA)
		users = append(users, u)
		for i := 0; i < MaxSessions && n < max; i++ {
			s, _, err := tpm2.PolicySession(u, tpm2.TPMAlgSHA256, 16)
			if err != nil {
				t.Fatalf("session %d: %v", n, err)
			}
			if i%2 == 0 { // some saved by the client, some kept by the manager
				if _, err := (tpm2.ContextSave{SaveHandle: s.Handle()}).Execute(u); err != nil {
					t.Fatal(err)
				}
			}
			n++
		}
	}
	// The core's own commands start with every slot free.
	if err := m.SwapOut(tpm); err != nil {
		t.Fatal(err)
	}
	if rc := startSession(t, tpm); rc != tpm2.TPMRCSessionHandles {
		t.Fatalf("rc 0x%x with the TPM full, want SESSION_HANDLES", uint32(rc))
	}
	for i := range 2 {
		if ok, err := m.Reclaim(tpm); err != nil || !ok {
			t.Fatalf("Reclaim %d = %v, %v", i, ok, err)
		}
		if rc := startSession(t, tpm); rc != tpm2.TPMRCSuccess {
			t.Errorf("a session after Reclaim %d: rc 0x%x", i, uint32(rc))
		}
	}
	for _, u := range users {
		u.close(t)
	}
	flushSaved(t, tpm)

	// Now the admin holds them all: Reclaim leaves them.
	var roots []*client
	for n := 0; n < max; {
		r := newClient(m, tpm)
		roots = append(roots, r)
		for i := 0; i < MaxSessions && n < max; i++ {
			if _, _, err := tpm2.PolicySession(r, tpm2.TPMAlgSHA256, 16); err != nil {
				t.Fatalf("admin session %d: %v", n, err)
			}
			n++
		}
	}
	if ok, err := m.Reclaim(tpm); err != nil || ok {
		t.Errorf("Reclaim with only admin sessions = %v, %v; want false", ok, err)
	}
	for _, r := range roots {
		r.close(t)
	}
	root.close(t)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("sessions left: %08x", hs)
	}
}

// flushSaved flushes every saved session of the TPM itself.
func flushSaved(t *testing.T, tpm transport.TPM) {
	t.Helper()
	for _, h := range tpmHandles(t, tpm, capSavedSession) {
		if _, err := (tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(h)}).Execute(tpm); err != nil {
			t.Fatalf("flush 0x%08x: %v", h, err)
		}
	}
}
