package rm

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// counting passes commands on and records their codes, as the TPM sees
// them (under the manager).
type counting struct {
	transport.TPM
	cmds []tpm2.TPMCC
}

func (c *counting) Send(cmd []byte) ([]byte, error) {
	c.cmds = append(c.cmds, tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10])))
	return c.TPM.Send(cmd)
}

func (c *counting) count(ccs ...tpm2.TPMCC) int {
	n := 0
	for _, x := range c.cmds {
		if slices.Contains(ccs, x) {
			n++
		}
	}
	return n
}

var swapCommands = []tpm2.TPMCC{tpm2.TPMCCContextSave, tpm2.TPMCCContextLoad, tpm2.TPMCCFlushContext}

// TestLoneClientSwapsNothing: a client alone with the TPM sends exactly
// its own commands: its key and session stay loaded between them.
func TestLoneClientSwapsNothing(t *testing.T) {
	sim := openSim(t)
	tpm := &counting{TPM: sim}
	m := newManager(t, tpm)
	a := newClient(m, tpm)
	k := createPrimary(t, a, eccSigningKey("lone"))
	sess, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptOut))
	if err != nil {
		t.Fatal(err)
	}
	tpm.cmds = nil
	for i := range 10 {
		signAndVerify(t, a, k.ObjectHandle, k.OutPublic, fmt.Sprint(i))
		if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(a, sess); err != nil {
			t.Fatalf("GetRandom in the session: %v", err)
		}
	}
	if n := tpm.count(swapCommands...); n != 0 || len(tpm.cmds) != 20 {
		t.Errorf("20 commands of a lone client cost %d TPM commands, %d of them swaps: %v", len(tpm.cmds), n, tpm.cmds)
	}
	assertOnlyResident(t, m, sim)
	// What SwapOut saved loads again.
	signAndVerify(t, a, k.ObjectHandle, k.OutPublic, "after the swap")
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(a, sess); err != nil {
		t.Fatalf("GetRandom in the session after the swap: %v", err)
	}
	a.close(t)
	assertNothingLoaded(t, sim)
}

// TestSlotsSharedBetweenClients: two clients with more keys than the TPM
// has slots, in turns: the manager swaps what it must, least recently
// used first, and every key stays its owner's.
func TestSlotsSharedBetweenClients(t *testing.T) {
	sim := openSim(t)
	tpm := &counting{TPM: sim}
	m := newManager(t, tpm)
	slots := tpmProperty(t, sim, tpm2.TPMPTHRTransientMin)
	a, b := newClient(m, tpm), newClient(m, tpm)
	var ak, bk []*tpm2.CreatePrimaryResponse
	for i := range slots {
		ak = append(ak, createPrimary(t, a, eccSigningKey(fmt.Sprint("a", i))))
	}
	// The TPM is full of A's keys; B's first one takes the slot of A's
	// least recently used.
	tpm.cmds = nil
	bk = append(bk, createPrimary(t, b, eccSigningKey("b0")))
	if n := tpm.count(tpm2.TPMCCContextSave); n != 1 {
		t.Errorf("B's first key swapped out %d keys, want 1: %v", n, tpm.cmds)
	}
	for round := range 3 {
		for i, k := range ak {
			signAndVerify(t, a, k.ObjectHandle, k.OutPublic, fmt.Sprint("a", round, i))
		}
		signAndVerify(t, b, bk[0].ObjectHandle, bk[0].OutPublic, fmt.Sprint("b", round))
	}
	// Only the objects that were never saved needed a ContextSave: A's
	// keys saved once load again and again.
	if n := tpm.count(tpm2.TPMCCContextSave); n > slots+1 {
		t.Errorf("%d ContextSaves for %d keys", n, slots+1)
	}
	assertOnlyResident(t, m, sim)
	a.close(t)
	b.close(t)
	assertNothingLoaded(t, sim)
}

// TestVariablePropertiesAsAfterFlush: a client that asks how many object
// slots are free sees all of them, as through the kernel's tpmrm0, even
// while another client has its keys resident.
func TestVariablePropertiesAsAfterFlush(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	free := tpmProperty(t, tpm, tpm2.TPMPTHRTransientAvail)
	a, b := newClient(m, tpm), newClient(m, tpm)
	createPrimary(t, a, eccSigningKey("a"))
	createPrimary(t, a, eccSigningKey("a2"))
	if _, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16); err != nil {
		t.Fatal(err)
	}
	if got := tpmProperty(t, b, tpm2.TPMPTHRTransientAvail); got != free {
		t.Errorf("B sees %d free object slots, want all %d", got, free)
	}
	if got := tpmProperty(t, b, tpm2.TPMPTHRLoaded); got != 0 {
		t.Errorf("B sees %d loaded sessions, want 0", got)
	}
	a.close(t)
	b.close(t)
}

// TestResidentFlushedBehindTheManager: another user of the TPM flushes a
// client's resident key (a raw client on the TPM, not through the
// manager). A key that was saved once loads again unseen; one that was
// never saved is gone, with an error, then an unknown handle.
func TestResidentFlushedBehindTheManager(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a := newClient(m, tpm)
	saved := createPrimary(t, a, eccSigningKey("saved"))
	if err := m.SwapOut(tpm); err != nil { // now it has a saved context
		t.Fatal(err)
	}
	signAndVerify(t, a, saved.ObjectHandle, saved.OutPublic, "resident again")
	fresh := createPrimary(t, a, eccSigningKey("fresh"))
	flushTransients(t, tpm)
	signAndVerify(t, a, saved.ObjectHandle, saved.OutPublic, "after the flush")
	_, err := tpm2.ReadPublic{ObjectHandle: fresh.ObjectHandle}.Execute(a)
	if rc := rcOf(t, err); rc&0xFFFF0000 != RMLayer || rc == rmHandle1 {
		t.Errorf("vanished key: rc 0x%x, want an RM-layer error", uint32(rc))
	}
	_, err = tpm2.ReadPublic{ObjectHandle: fresh.ObjectHandle}.Execute(a)
	if rc := rcOf(t, err); rc != rmHandle1 {
		t.Errorf("vanished key again: rc 0x%x, want 0x%x", uint32(rc), rmHandle1)
	}
	assertOnlyResident(t, m, tpm)
	a.close(t)
}

// TestStaleResidentHandleNeverReachesAnotherSpace: after a reset the
// manager was not told of, the TPM gives A's old handle to B's new key;
// A's stale resident key is dropped, never mistaken for B's.
func TestStaleResidentHandleNeverReachesAnotherSpace(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a, b := newClient(m, tpm), newClient(m, tpm)
	ak := createPrimary(t, a, eccSigningKey("a"))
	flushTransients(t, tpm) // as a reset would
	bk := createPrimary(t, b, eccSigningKey("b"))
	signAndVerify(t, b, bk.ObjectHandle, bk.OutPublic, "b")
	_, err := tpm2.ReadPublic{ObjectHandle: ak.ObjectHandle}.Execute(a)
	if rc := rcOf(t, err); rc != rmHandle1 {
		t.Errorf("A's stale key: rc 0x%x, want 0x%x (forgotten, not B's key)", uint32(rc), rmHandle1)
	}
	assertOnlyResident(t, m, tpm)
	a.close(t)
	b.close(t)
}

// flushTransients flushes every transient object in the TPM directly.
func flushTransients(t *testing.T, tpm transport.TPM) {
	t.Helper()
	for _, h := range tpmHandles(t, tpm, capTransient) {
		if _, err := (tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(h)}).Execute(tpm); err != nil {
			t.Fatalf("flush 0x%08x: %v", h, err)
		}
	}
}

// TestInternalSpace: the caller's own space is held to no quota, and a
// client's EvictControl or Clear tells the caller.
func TestInternalSpace(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	restricted(m, &Quota{Objects: 1, Sessions: 1, Opens: 1})
	changes := 0
	m.OnHierarchyChange(func() { changes++ })
	core := &client{m: m, sp: m.NewInternalSpace(), tpm: tpm}
	srk := createPrimary(t, core, tpm2.ECCSRKTemplate)
	createPrimary(t, core, eccSigningKey("two"))
	root := newClient(m, tpm)
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: srk.ObjectHandle, Name: srk.Name},
		PersistentHandle: 0x81000001,
	}).Execute(core); err != nil {
		t.Fatalf("EvictControl in the internal space: %v", err)
	}
	if changes != 1 {
		t.Errorf("%d changes after EvictControl, want 1", changes)
	}
	if _, err := (tpm2.Clear{AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHLockout, Auth: tpm2.PasswordAuth(nil)}}).Execute(root); err != nil {
		t.Fatalf("Clear by root: %v", err)
	}
	if changes != 2 {
		t.Errorf("%d changes after Clear, want 2", changes)
	}
	// Clear flushed the internal space's keys: they are forgotten as
	// they are touched.
	_, err := tpm2.ReadPublic{ObjectHandle: srk.ObjectHandle}.Execute(core)
	if err == nil {
		t.Error("the SRK is still there after Clear")
	}
	root.close(t)
	if err := m.Flush(tpm, core.sp); err != nil {
		t.Errorf("Flush: %v", err)
	}
	assertNothingLoaded(t, tpm)
}

// TestRoomBeforeAuthorizedCommands: with the TPM's slots full of another
// client's keys, a command authorized by an HMAC session that needs a
// slot (Create, here under a persistent key the TPM loads into a slot of
// its own) finds room made before it is sent: sent again after the TPM
// refused it, its authorization would no longer hold.
func TestRoomBeforeAuthorizedCommands(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a, b := newClient(m, tpm), newClient(m, tpm)
	srk := createPrimary(t, b, tpm2.ECCSRKTemplate)
	if _, err := (tpm2.EvictControl{Auth: tpm2.TPMRHOwner, ObjectHandle: &tpm2.NamedHandle{Handle: srk.ObjectHandle, Name: srk.Name},
		PersistentHandle: 0x81000001}).Execute(b); err != nil {
		t.Fatal(err)
	}
	for i := range tpmProperty(t, tpm, tpm2.TPMPTHRTransientMin) {
		createPrimary(t, a, eccSigningKey(fmt.Sprint("a", i)))
	}
	sess, _, err := tpm2.HMACSession(b, tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptIn))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := (tpm2.Create{
			ParentHandle: tpm2.AuthHandle{Handle: 0x81000001, Name: srk.Name, Auth: sess},
			InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
				Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: []byte("secret")})}},
			InPublic: tpm2.New2B(sealedObject(nil)),
		}).Execute(b); err != nil {
			t.Fatalf("Create %d under the persistent SRK with the TPM full: %v", i, err)
		}
	}
	if _, err := (tpm2.EvictControl{Auth: tpm2.TPMRHOwner, ObjectHandle: &tpm2.NamedHandle{Handle: 0x81000001, Name: srk.Name},
		PersistentHandle: 0x81000001}).Execute(b); err != nil {
		t.Fatal(err)
	}
	assertOnlyResident(t, m, tpm)
	a.close(t)
	b.close(t)
	assertNothingLoaded(t, tpm)
}
