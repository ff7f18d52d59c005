package rm

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// TestObjectQuotaPerUID: a uid's objects count across its spaces; past
// the quota it gets OBJECT_MEMORY while another user and the admin go on.
func TestObjectQuotaPerUID(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	restricted(m, &Quota{Objects: 4, Sessions: 2, Opens: 3})
	root := newClient(m, tpm)
	a1, a2 := mustClientAs(t, m, root, userA), mustClientAs(t, m, root, userA)
	b := mustClientAs(t, m, root, userB)

	for i := range 3 {
		createPrimary(t, a1, eccSigningKey(string(rune('a'+i))))
	}
	createPrimary(t, a2, eccSigningKey("d"))
	_, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(eccSigningKey("e"))}.Execute(a2)
	if rc := rcOf(t, err); rc != rmObjectMemory {
		t.Errorf("uid %d's fifth object: rc 0x%x, want 0x%x", userA, uint32(rc), rmObjectMemory)
	}
	// A ContextLoad of an object counts as one more.
	saved := createPrimary(t, b, eccSigningKey("b"))
	ctx, err := tpm2.ContextSave{SaveHandle: saved.ObjectHandle}.Execute(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.ContextLoad{Context: ctx.Context}).Execute(a1); rcOf(t, err) != rmObjectMemory {
		t.Errorf("ContextLoad past the quota: %v", err)
	}
	// Others are not affected.
	for i := range 3 {
		createPrimary(t, b, eccSigningKey(string(rune('f'+i))))
	}
	for i := range 8 {
		createPrimary(t, root, eccSigningKey(string(rune('k'+i))))
	}
	// A flush makes room again.
	hs := clientHandles(t, a1, capTransient, 254)
	if _, err := (tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(hs[0])}).Execute(a1); err != nil {
		t.Fatal(err)
	}
	createPrimary(t, a2, eccSigningKey("e"))
	// Closing a space gives back its objects.
	a1.close(t)
	for i := range 2 {
		createPrimary(t, a2, eccSigningKey(string(rune('x'+i))))
	}
	a2.close(t)
	b.close(t)
	root.close(t)
	assertNothingLoaded(t, tpm)
}

// TestOpenQuotaPerUID: NewSpace past the uid's quota is ErrTooManyOpen;
// closing one lets the next in; other uids and the admin are not counted.
func TestOpenQuotaPerUID(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	restricted(m, &Quota{Objects: 4, Sessions: 2, Opens: 2})
	var open []*client
	for range 2 {
		c, err := newClientAs(m, tpm, userA)
		if err != nil {
			t.Fatalf("open within the quota: %v", err)
		}
		open = append(open, c)
	}
	if _, err := newClientAs(m, tpm, userA); !errors.Is(err, ErrTooManyOpen) {
		t.Errorf("third open: %v, want ErrTooManyOpen", err)
	}
	if c, err := newClientAs(m, tpm, userB); err != nil {
		t.Errorf("another uid: %v", err)
	} else {
		c.close(t)
	}
	for range 5 {
		newClient(m, tpm).close(t)
	}
	open[0].close(t)
	c, err := newClientAs(m, tpm, userA)
	if err != nil {
		t.Fatalf("open after a close: %v", err)
	}
	c.close(t)
	open[1].close(t)
}

// TestSavedSessionsCountPerSpace is finding 8 of issue 11: saved sessions
// count against the space that saved them, so one open cannot save its
// way past MaxSessions (the admin's space included).
func TestSavedSessionsCountPerSpace(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	root := newClient(m, tpm)
	for i := range MaxSessions {
		s, _, err := tpm2.PolicySession(root, tpm2.TPMAlgSHA256, 16)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if _, err := (tpm2.ContextSave{SaveHandle: s.Handle()}).Execute(root); err != nil {
			t.Fatalf("ContextSave %d: %v", i, err)
		}
	}
	_, _, err := tpm2.PolicySession(root, tpm2.TPMAlgSHA256, 16)
	if rc := rcOf(t, err); rc != rmSessionMemory {
		t.Errorf("session past the open's limit with %d saved: rc 0x%x, want 0x%x", MaxSessions, uint32(rc), rmSessionMemory)
	}
	root.close(t)
	if n := len(tpmHandles(t, tpm, capSavedSession)); n != MaxSessions {
		t.Errorf("TPM holds %d saved sessions, want the %d the client saved (kept, as the kernel keeps them)", n, MaxSessions)
	}
}

// TestSavedSessionsCountPerUID: a user's saved sessions count against its
// quota after its spaces closed; loading one back adds nothing; the user
// frees them as tpm2_flushcontext --saved-session does; another user is
// not affected.
func TestSavedSessionsCountPerUID(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	restricted(m, &Quota{Objects: 4, Sessions: 2, Opens: 4})
	root := newClient(m, tpm)
	var blobs []tpm2.TPMSContext
	for range 2 {
		c := mustClientAs(t, m, root, userA)
		s, _, err := tpm2.PolicySession(c, tpm2.TPMAlgSHA256, 16)
		if err != nil {
			t.Fatal(err)
		}
		saved, err := tpm2.ContextSave{SaveHandle: s.Handle()}.Execute(c)
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, saved.Context)
		c.close(t)
	}
	c := mustClientAs(t, m, root, userA)
	if _, _, err := tpm2.HMACSession(c, tpm2.TPMAlgSHA256, 16); rcOf(t, err) != rmSessionMemory {
		t.Errorf("a third session with two saved: %v, want SESSION_MEMORY", err)
	}
	// At the quota, the user still loads its own saved sessions back
	// (tpm2_policypcr -S session.ctx) and uses them.
	ls, err := tpm2.ContextLoad{Context: blobs[0]}.Execute(c)
	if err != nil {
		t.Fatalf("ContextLoad of the user's own saved session at its quota: %v", err)
	}
	if _, err := (tpm2.PolicyAuthValue{PolicySession: ls.LoadedHandle}).Execute(c); err != nil {
		t.Fatalf("PolicyAuthValue on it: %v", err)
	}
	// Another user is not held by A's sessions.
	b := mustClientAs(t, m, root, userB)
	if _, _, err := tpm2.HMACSession(b, tpm2.TPMAlgSHA256, 16); err != nil {
		t.Errorf("uid %d's session: %v", userB, err)
	}
	if hs := clientHandles(t, b, capSavedSession, 254); len(hs) != 0 {
		t.Errorf("uid %d sees uid %d's saved sessions %08x", userB, userA, hs)
	}
	b.close(t)
	// tpm2_flushcontext --saved-session: list, then flush each.
	hs := clientHandles(t, c, capSavedSession, 254)
	if len(hs) != 1 {
		t.Fatalf("uid %d lists saved sessions %08x, want its one orphan", userA, hs)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(hs[0])}).Execute(c); err != nil {
		t.Fatalf("flush of the user's orphan: %v", err)
	}
	if _, _, err := tpm2.HMACSession(c, tpm2.TPMAlgSHA256, 16); err != nil {
		t.Errorf("a session after flushing an orphan: %v", err)
	}
	c.close(t)
	root.close(t)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("sessions left: %08x", hs)
	}
}

// TestOrphansOfOthersCannotBeFlushed: a user can neither list nor flush
// another user's orphan; an admin can.
func TestOrphansOfOthersCannotBeFlushed(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	restricted(m, &Quota{Objects: 4, Sessions: 2, Opens: 4})
	root := newClient(m, tpm)
	a := mustClientAs(t, m, root, userA)
	s, _, err := tpm2.PolicySession(a, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.ContextSave{SaveHandle: s.Handle()}).Execute(a); err != nil {
		t.Fatal(err)
	}
	a.close(t)
	b := mustClientAs(t, m, root, userB)
	if _, err := (tpm2.FlushContext{FlushHandle: s.Handle()}).Execute(b); err == nil {
		t.Errorf("uid %d flushed uid %d's saved session", userB, userA)
	}
	b.close(t)
	if hs := clientHandles(t, root, capSavedSession, 254); !slices.Equal(hs, []uint32{0x02000000 | uint32(s.Handle())&0xFFFFFF}) {
		t.Errorf("root lists saved sessions %08x", hs)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: s.Handle()}).Execute(root); err != nil {
		t.Errorf("root's flush of an orphan: %v", err)
	}
	root.close(t)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("sessions left: %08x", hs)
	}
}
