package rm

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// Response codes as a client sees them, written out from the spec (Part 2,
// 6.6) and TSS2_RESMGR_TPM_RC_LAYER rather than taken from the package.
const (
	rmHandle1       = 0x000B018B // RM layer | TPM_RC_HANDLE + TPM_RC_H + TPM_RC_1
	rmHandleParam1  = 0x000B01CB // RM layer | TPM_RC_HANDLE + TPM_RC_P + TPM_RC_1
	rmHandleSess1   = 0x000B098B // RM layer | TPM_RC_HANDLE + TPM_RC_S + TPM_RC_1
	rmObjectMemory  = 0x000B0902 // RM layer | TPM_RC_OBJECT_MEMORY
	rmSessionMemory = 0x000B0903 // RM layer | TPM_RC_SESSION_MEMORY
)

func TestNewReadsCommandAttributesFromTPM(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	// Handle counts from the command tables of Part 3.
	want := map[tpm2.TPMCC]cmdAttr{
		tpm2.TPMCCCreatePrimary:         {handles: 1, rHandle: true},
		tpm2.TPMCCCreate:                {handles: 1},
		tpm2.TPMCCLoad:                  {handles: 1, rHandle: true},
		tpm2.TPMCCLoadExternal:          {handles: 0, rHandle: true},
		tpm2.TPMCCContextSave:           {handles: 1},
		tpm2.TPMCCContextLoad:           {handles: 0, rHandle: true},
		tpm2.TPMCCFlushContext:          {handles: 0},
		tpm2.TPMCCStartAuthSession:      {handles: 2, rHandle: true},
		tpm2.TPMCCPolicySecret:          {handles: 2},
		tpm2.TPMCCNVCertify:             {handles: 3},
		tpm2.TPMCCSequenceComplete:      {handles: 1, flushed: true},
		tpm2.TPMCCEventSequenceComplete: {handles: 2, flushed: true},
		tpm2.TPMCCHashSequenceStart:     {handles: 0, rHandle: true},
		tpm2.TPMCCGetCapability:         {handles: 0},
		tpm2.TPMCCUnseal:                {handles: 1},
	}
	for cc, w := range want {
		got, ok := m.attrs[uint32(cc)]
		if !ok {
			t.Errorf("command 0x%x missing from the TPM's list", uint32(cc))
			continue
		}
		if got != w {
			t.Errorf("command 0x%x: attributes %+v, want %+v", uint32(cc), got, w)
		}
	}
	if len(m.attrs) < 100 { // the reference TPM implements well over 100
		t.Errorf("only %d commands read; moreData not followed?", len(m.attrs))
	}
}

func TestObjectsAreVirtualAndPrivate(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a, b := newClient(m, tpm), newClient(m, tpm)

	a1 := createPrimary(t, a, eccSigningKey("a1"))
	a2 := createPrimary(t, a, eccSigningKey("a2"))
	b1 := createPrimary(t, b, eccSigningKey("b1"))
	assertOnlyResident(t, m, tpm)
	for _, h := range []tpm2.TPMHandle{a1.ObjectHandle, a2.ObjectHandle, b1.ObjectHandle} {
		if !isVirtual(h) {
			t.Errorf("handle 0x%08x is not virtual", uint32(h))
		}
	}
	if a1.ObjectHandle == a2.ObjectHandle {
		t.Fatalf("two objects share handle 0x%08x", uint32(a1.ObjectHandle))
	}

	// Each handle reaches its own key, in its own space.
	signAndVerify(t, a, a1.ObjectHandle, a1.OutPublic, "one")
	signAndVerify(t, a, a2.ObjectHandle, a2.OutPublic, "two")
	signAndVerify(t, b, b1.ObjectHandle, b1.OutPublic, "three")
	rp, err := tpm2.ReadPublic{ObjectHandle: a2.ObjectHandle}.Execute(a)
	if err != nil {
		t.Fatalf("ReadPublic: %v", err)
	}
	if !bytes.Equal(rp.Name.Buffer, nameOf(t, a2.OutPublic)) {
		t.Errorf("ReadPublic through A names another object")
	}

	// A handle of A's that B does not have is unknown to B: B can neither
	// use nor flush it.
	foreign := a2.ObjectHandle
	if foreign == b1.ObjectHandle {
		foreign = a1.ObjectHandle
	}
	_, err = tpm2.ReadPublic{ObjectHandle: foreign}.Execute(b)
	if rc := rcOf(t, err); rc != rmHandle1 {
		t.Errorf("B using A's handle: rc 0x%x, want 0x%x", uint32(rc), rmHandle1)
	}
	_, err = tpm2.FlushContext{FlushHandle: foreign}.Execute(b)
	if rc := rcOf(t, err); rc != rmHandleParam1 {
		t.Errorf("B flushing A's handle: rc 0x%x, want 0x%x", uint32(rc), rmHandleParam1)
	}
	fk := a1
	if foreign == a2.ObjectHandle {
		fk = a2
	}
	signAndVerify(t, a, foreign, fk.OutPublic, "still there")

	// FlushContext of a virtual handle forgets the object.
	if _, err := (tpm2.FlushContext{FlushHandle: a2.ObjectHandle}).Execute(a); err != nil {
		t.Fatalf("FlushContext of own object: %v", err)
	}
	_, err = tpm2.ReadPublic{ObjectHandle: a2.ObjectHandle}.Execute(a)
	if rc := rcOf(t, err); rc != rmHandle1 {
		t.Errorf("use after flush: rc 0x%x, want 0x%x", uint32(rc), rmHandle1)
	}
	a.close(t)
	b.close(t)
	assertNothingLoaded(t, tpm)
}

func TestManyObjectsFewSlots(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	slots := tpmProperty(t, tpm, tpm2.TPMPTHRTransientMin)
	if slots >= MaxObjects {
		t.Fatalf("TPM has %d object slots; the test needs fewer than %d", slots, MaxObjects)
	}
	if MaxObjects < 16 {
		t.Fatalf("quota %d below the 16 objects a space must hold", MaxObjects)
	}
	a := newClient(m, tpm)
	var keys []*tpm2.CreatePrimaryResponse
	for i := range MaxObjects {
		keys = append(keys, createPrimary(t, a, eccSigningKey(fmt.Sprintf("key %d", i))))
	}
	assertOnlyResident(t, m, tpm)

	// Past the quota: a clear error, and nothing left in the TPM.
	_, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(eccSigningKey("one too many"))}.Execute(a)
	if rc := rcOf(t, err); rc != rmObjectMemory {
		t.Errorf("object past quota: rc 0x%x, want 0x%x", uint32(rc), rmObjectMemory)
	}
	assertOnlyResident(t, m, tpm)

	// Another space is not affected by A's quota.
	b := newClient(m, tpm)
	bk := createPrimary(t, b, eccSigningKey("b"))
	signAndVerify(t, b, bk.ObjectHandle, bk.OutPublic, "b")

	// Every one of A's objects is still its own key.
	for i, k := range keys {
		signAndVerify(t, a, k.ObjectHandle, k.OutPublic, fmt.Sprintf("message %d", i))
	}

	// With all those objects in spaces, SwapOut frees every TPM slot for
	// the core's own work between client commands.
	if err := m.SwapOut(tpm); err != nil {
		t.Fatal(err)
	}
	var direct []tpm2.TPMHandle
	for i := range slots {
		rsp := createPrimary(t, tpm, eccSigningKey(fmt.Sprintf("core %d", i)))
		direct = append(direct, rsp.ObjectHandle)
	}
	for _, h := range direct {
		if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(tpm); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	a.close(t)
	b.close(t)
	assertNothingLoaded(t, tpm)
}

func TestSealLoadUnsealAcrossSpaces(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a := newClient(m, tpm)
	secret := []byte("across processes")

	srk := createPrimary(t, a, tpm2.ECCSRKTemplate)
	sealed := seal(t, a, srk, secret, nil, nil)
	obj := load(t, a, srk, sealed)
	if !isVirtual(obj.ObjectHandle) {
		t.Errorf("Load returned handle 0x%08x, not virtual", uint32(obj.ObjectHandle))
	}
	if got := unseal(t, a, obj.ObjectHandle, obj.Name); !bytes.Equal(got, secret) {
		t.Fatalf("unsealed %q, want %q", got, secret)
	}

	// As tpm2-tools do between processes: save contexts, close, load them
	// in another space.
	srkCtx, err := tpm2.ContextSave{SaveHandle: srk.ObjectHandle}.Execute(a)
	if err != nil {
		t.Fatalf("ContextSave of the primary: %v", err)
	}
	objCtx, err := tpm2.ContextSave{SaveHandle: obj.ObjectHandle}.Execute(a)
	if err != nil {
		t.Fatalf("ContextSave of the sealed object: %v", err)
	}
	a.close(t)
	assertNothingLoaded(t, tpm)

	// The client holds real TPM contexts: the TPM itself loads them.
	direct, err := tpm2.ContextLoad{Context: objCtx.Context}.Execute(tpm)
	if err != nil {
		t.Fatalf("ContextLoad on the TPM itself: %v", err)
	}
	if got := unseal(t, tpm, direct.LoadedHandle, obj.Name); !bytes.Equal(got, secret) {
		t.Errorf("unsealed directly %q, want %q", got, secret)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: direct.LoadedHandle}).Execute(tpm); err != nil {
		t.Fatal(err)
	}

	// A second space loads them under virtual handles of its own.
	b := newClient(m, tpm)
	bObj, err := tpm2.ContextLoad{Context: objCtx.Context}.Execute(b)
	if err != nil {
		t.Fatalf("ContextLoad in B: %v", err)
	}
	if !isVirtual(bObj.LoadedHandle) {
		t.Errorf("ContextLoad returned 0x%08x, not virtual", uint32(bObj.LoadedHandle))
	}
	if got := unseal(t, b, bObj.LoadedHandle, obj.Name); !bytes.Equal(got, secret) {
		t.Errorf("unsealed in B %q, want %q", got, secret)
	}
	bSRK, err := tpm2.ContextLoad{Context: srkCtx.Context}.Execute(b)
	if err != nil {
		t.Fatalf("ContextLoad of the primary in B: %v", err)
	}
	parent := &tpm2.CreatePrimaryResponse{ObjectHandle: bSRK.LoadedHandle, Name: srk.Name}
	again := load(t, b, parent, sealed)
	if got := unseal(t, b, again.ObjectHandle, again.Name); !bytes.Equal(got, secret) {
		t.Errorf("unsealed after Load under the reloaded primary %q, want %q", got, secret)
	}
	if n := len(clientHandles(t, b, capTransient, 254)); n != 3 {
		t.Errorf("B lists %d objects, want 3", n)
	}
	b.close(t)
	assertNothingLoaded(t, tpm)
}

func unseal(t *testing.T, tpm interface {
	Send([]byte) ([]byte, error)
}, h tpm2.TPMHandle, name tpm2.TPM2BName) []byte {
	t.Helper()
	rsp, err := tpm2.Unseal{ItemHandle: tpm2.NamedHandle{Handle: h, Name: name}}.Execute(tpm)
	if err != nil {
		t.Fatalf("Unseal 0x%08x: %v", uint32(h), err)
	}
	return rsp.OutData.Buffer
}

func TestHashSequenceIsSavedAfterEachUse(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	c := newClient(m, tpm)
	parts := [][]byte{[]byte("first part, "), []byte("second part, "), []byte("last part")}

	seq, err := tpm2.HashSequenceStart{HashAlg: tpm2.TPMAlgSHA256}.Execute(c)
	if err != nil {
		t.Fatalf("HashSequenceStart: %v", err)
	}
	if !isVirtual(seq.SequenceHandle) {
		t.Errorf("sequence handle 0x%08x is not virtual", uint32(seq.SequenceHandle))
	}
	auth := tpm2.AuthHandle{Handle: seq.SequenceHandle, Auth: tpm2.PasswordAuth(nil)}
	for _, p := range parts[:2] {
		if _, err := (tpm2.SequenceUpdate{SequenceHandle: auth, Buffer: tpm2.TPM2BMaxBuffer{Buffer: p}}).Execute(c); err != nil {
			t.Fatalf("SequenceUpdate: %v", err)
		}
		assertOnlyResident(t, m, tpm)
	}
	done, err := tpm2.SequenceComplete{SequenceHandle: auth, Buffer: tpm2.TPM2BMaxBuffer{Buffer: parts[2]}, Hierarchy: tpm2.TPMRHNull}.Execute(c)
	if err != nil {
		t.Fatalf("SequenceComplete: %v", err)
	}
	want := sha256Sum(bytes.Join(parts, nil))
	if !bytes.Equal(done.Result.Buffer, want) {
		t.Errorf("sequence digest %x, want %x", done.Result.Buffer, want)
	}
	// SequenceComplete flushed the sequence: the space no longer has it.
	if hs := clientHandles(t, c, capTransient, 254); len(hs) != 0 {
		t.Errorf("space still lists %08x after SequenceComplete", hs)
	}
	_, err = tpm2.FlushContext{FlushHandle: seq.SequenceHandle}.Execute(c)
	if rc := rcOf(t, err); rc != rmHandleParam1 {
		t.Errorf("flush of completed sequence: rc 0x%x, want 0x%x", uint32(rc), rmHandleParam1)
	}
	c.close(t)
	assertNothingLoaded(t, tpm)
}

func TestFlushEndsSpace(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	var clients []*client
	for i := range 3 {
		c := newClient(m, tpm)
		createPrimary(t, c, eccSigningKey(fmt.Sprintf("space %d", i)))
		if _, _, err := tpm2.HMACSession(c, tpm2.TPMAlgSHA256, 16); err != nil {
			t.Fatalf("HMACSession: %v", err)
		}
		if _, _, err := tpm2.PolicySession(c, tpm2.TPMAlgSHA256, 16); err != nil {
			t.Fatalf("PolicySession: %v", err)
		}
		clients = append(clients, c)
	}
	if n := len(tpmHandles(t, tpm, capSavedSession)) + len(tpmHandles(t, tpm, capLoadedSession)); n != 6 {
		t.Errorf("TPM holds %d sessions, want 6", n)
	}
	for _, c := range clients {
		c.close(t)
	}
	assertNothingLoaded(t, tpm)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("saved sessions left after every space closed: %08x", hs)
	}
	if _, err := clients[0].Send(getRandomCommand(8)); err == nil {
		t.Errorf("a closed space took a command")
	}
	// Flushing twice is harmless.
	if err := m.Flush(tpm, clients[0].sp); err != nil {
		t.Errorf("second Flush: %v", err)
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// clientHandles asks through the manager, as the client, for its handles.
func clientHandles(t *testing.T, c *client, first, count uint32) []uint32 {
	t.Helper()
	hs, _ := clientHandlesMore(t, c, first, count)
	return hs
}

func clientHandlesMore(t *testing.T, c *client, first, count uint32) ([]uint32, bool) {
	t.Helper()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: count}.Execute(c)
	if err != nil {
		t.Fatalf("GetCapability(handles 0x%08x) through the manager: %v", first, err)
	}
	l, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		t.Fatal(err)
	}
	var hs []uint32
	for _, h := range l.Handle {
		hs = append(hs, uint32(h))
	}
	if !slices.IsSortedFunc(hs, func(a, b uint32) int { return int(a&0xFFFFFF) - int(b&0xFFFFFF) }) {
		t.Errorf("handles not in order: %08x", hs)
	}
	return hs, rsp.MoreData
}
