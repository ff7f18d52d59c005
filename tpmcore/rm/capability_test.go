package rm

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

func TestGetCapabilityShowsOnlyOwnHandles(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a, b := newClient(m, tpm), newClient(m, tpm)
	a1 := createPrimary(t, a, eccSigningKey("a1"))
	a2 := createPrimary(t, a, eccSigningKey("a2"))
	b1 := createPrimary(t, b, eccSigningKey("b1"))
	aSess, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("HMACSession: %v", err)
	}
	bSess, _, err := tpm2.PolicySession(b, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("PolicySession: %v", err)
	}

	aObjs := sortedCopy([]uint32{uint32(a1.ObjectHandle), uint32(a2.ObjectHandle)})
	if got := clientHandles(t, a, capTransient, 254); !slices.Equal(got, aObjs) {
		t.Errorf("A's objects %08x, want %08x", got, aObjs)
	}
	if got := clientHandles(t, b, capTransient, 254); !slices.Equal(got, []uint32{uint32(b1.ObjectHandle)}) {
		t.Errorf("B's objects %08x, want [%08x]", got, uint32(b1.ObjectHandle))
	}

	// propertyCount and the starting handle are honoured, with moreData.
	got, more := clientHandlesMore(t, a, capTransient, 1)
	if !slices.Equal(got, aObjs[:1]) || !more {
		t.Errorf("first of A's objects: %08x more=%v, want %08x more=true", got, more, aObjs[:1])
	}
	got, more = clientHandlesMore(t, a, aObjs[1], 254)
	if !slices.Equal(got, aObjs[1:]) || more {
		t.Errorf("A's objects from %08x: %08x more=%v", aObjs[1], got, more)
	}

	// Each space's sessions are loaded whenever it runs; the other's are
	// not there at all.
	if got := clientHandles(t, a, capLoadedSession, 254); !slices.Equal(got, []uint32{uint32(aSess.Handle())}) {
		t.Errorf("A's sessions %08x, want [%08x]", got, uint32(aSess.Handle()))
	}
	if got := clientHandles(t, b, capLoadedSession, 254); !slices.Equal(got, []uint32{uint32(bSess.Handle())}) {
		t.Errorf("B's sessions %08x, want [%08x]", got, uint32(bSess.Handle()))
	}
	if got := clientHandles(t, b, capSavedSession, 254); len(got) != 0 {
		t.Errorf("B sees saved sessions %08x", got)
	}

	// Ranges the manager does not virtualise pass through: a persistent
	// key made from A's virtual handle shows for B as the TPM lists it.
	const persistent = 0x81000010
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	if _, err := (tpm2.EvictControl{
		Auth:             owner,
		ObjectHandle:     tpm2.NamedHandle{Handle: a1.ObjectHandle, Name: a1.Name},
		PersistentHandle: persistent,
	}).Execute(a); err != nil {
		t.Fatalf("EvictControl of a virtual handle: %v", err)
	}
	direct := tpmHandles(t, tpm, capPersistent)
	if !slices.Contains(direct, persistent) {
		t.Fatalf("TPM lists persistent %08x, want 0x%08x among them", direct, persistent)
	}
	if got := clientHandles(t, b, capPersistent, 254); !slices.Equal(got, direct) {
		t.Errorf("B's persistent handles %08x, TPM's %08x", got, direct)
	}
	signAndVerify(t, b, persistent, a1.OutPublic, "persistent")
	if _, err := (tpm2.EvictControl{
		Auth:             owner,
		ObjectHandle:     tpm2.NamedHandle{Handle: persistent, Name: a1.Name},
		PersistentHandle: persistent,
	}).Execute(b); err != nil {
		t.Fatalf("EvictControl (remove): %v", err)
	}
	a.close(t)
	b.close(t)
	assertNothingLoaded(t, tpm)
}

func TestReplaceCapHandlesKeepsAuthArea(t *testing.T) {
	// A GetCapability response with sessions, laid out per Part 3, 30.2:
	// header, parameterSize, moreData, capability, count, handles, then
	// the response authorization area.
	params := []byte{0}
	params = binary.BigEndian.AppendUint32(params, 1) // TPM_CAP_HANDLES
	params = binary.BigEndian.AppendUint32(params, 2)
	params = binary.BigEndian.AppendUint32(params, 0x80000000)
	params = binary.BigEndian.AppendUint32(params, 0x80000001)
	auth := []byte{0, 2, 0xAA, 0xBB, 1, 0, 1, 0xCC}
	body := append(be32(uint32(len(params))), params...)
	body = append(body, auth...)
	rsp := append(be16(0x8002), be32(uint32(10+len(body)))...)
	rsp = append(rsp, be32(0)...)
	rsp = append(rsp, body...)

	out, err := replaceCapHandles(rsp, []uint32{0x80FF0007}, true)
	if err != nil {
		t.Fatalf("replaceCapHandles: %v", err)
	}
	want := append(be16(0x8002), be32(10+4+13+uint32(len(auth)))...)
	want = append(want, be32(0)...)
	want = append(want, be32(13)...)
	want = append(want, 1)
	want = append(want, be32(1)...)
	want = append(want, be32(1)...)
	want = append(want, be32(0x80FF0007)...)
	want = append(want, auth...)
	if !slices.Equal(out, want) {
		t.Errorf("rebuilt response\n %x\nwant\n %x", out, want)
	}
	if _, err := replaceCapHandles(rsp[:16], nil, false); err == nil {
		t.Errorf("a cut response was rebuilt")
	}
}

func TestAllocVirtualSkipsUsedAndWraps(t *testing.T) {
	sp := newSpace(0, true)
	first, ok := sp.allocVirtual()
	if !ok || first>>24 != 0x80 {
		t.Fatalf("first virtual handle 0x%08x ok=%v", first, ok)
	}
	sp.objects[first] = &object{}
	second, _ := sp.allocVirtual()
	if second == first {
		t.Fatalf("handle 0x%08x handed out twice", first)
	}
	sp.objects[second] = &object{}
	// After a full turn the counter comes back round and skips the two
	// handles still in use.
	for range vhandleCount - 2 {
		h, ok := sp.allocVirtual()
		if !ok || h == first || h == second {
			t.Fatalf("allocated 0x%08x ok=%v while it is in use", h, ok)
		}
	}
	h, ok := sp.allocVirtual()
	if !ok || h == first || h == second || h>>24 != 0x80 {
		t.Fatalf("after wrapping: 0x%08x ok=%v", h, ok)
	}
}

// TestFlushSavedSessionsAsListed: what a client lists as its saved
// sessions it can flush by that handle (tpm2_flushcontext
// --saved-session); another client can do neither.
func TestFlushSavedSessionsAsListed(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a, b := newClient(m, tpm), newClient(m, tpm)
	sess, _, err := tpm2.PolicySession(a, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("PolicySession: %v", err)
	}
	if _, err := (tpm2.ContextSave{SaveHandle: sess.Handle()}).Execute(a); err != nil {
		t.Fatalf("ContextSave: %v", err)
	}
	listed := clientHandles(t, a, capSavedSession, 254)
	if len(listed) != 1 {
		t.Fatalf("A lists saved sessions %08x, want one", listed)
	}
	_, err = tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(listed[0])}.Execute(b)
	if rc := rcOf(t, err); rc != rmHandleParam1 {
		t.Errorf("B flushing A's saved session: rc 0x%x, want 0x%x", uint32(rc), rmHandleParam1)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(listed[0])}).Execute(a); err != nil {
		t.Fatalf("A flushing its saved session 0x%08x: %v", listed[0], err)
	}
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("TPM still holds sessions %08x", hs)
	}
	if hs := clientHandles(t, a, capSavedSession, 254); len(hs) != 0 {
		t.Errorf("A still lists %08x", hs)
	}
	a.close(t)
	b.close(t)
}
