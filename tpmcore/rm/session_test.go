package rm

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// policyAuthValueDigest computes, with crypto/sha256, the policy digest of
// n PolicyAuthValue commands from a fresh session (Part 3, 23.18):
// digest = SHA-256(digest || TPM_CC_PolicyAuthValue).
func policyAuthValueDigest(n int) []byte {
	d := make([]byte, sha256.Size)
	for range n {
		s := sha256.Sum256(append(d, be32(0x16B)...))
		d = s[:]
	}
	return d
}

// runPolicyAuthValues sends n PolicyAuthValue on a policy session, each
// one a context save and load by the manager, and checks the session's
// digest against policyAuthValueDigest.
func runPolicyAuthValues(t *testing.T, c transport.TPM, sess tpm2.TPMHandle, n int) {
	t.Helper()
	for i := range n {
		if _, err := (tpm2.PolicyAuthValue{PolicySession: sess}).Execute(c); err != nil {
			t.Fatalf("PolicyAuthValue %d: %v", i, err)
		}
	}
	dg, err := tpm2.PolicyGetDigest{PolicySession: sess}.Execute(c)
	if err != nil {
		t.Fatalf("PolicyGetDigest: %v", err)
	}
	if want := policyAuthValueDigest(n); !bytes.Equal(dg.PolicyDigest.Buffer, want) {
		t.Errorf("policy digest after %d commands %x, want %x", n, dg.PolicyDigest.Buffer, want)
	}
}

func TestHMACSessionAcrossCommands(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a := newClient(m, tpm)
	secret, auth := []byte("hmac-protected"), []byte("object password")

	srk := createPrimary(t, a, tpm2.ECCSRKTemplate)
	obj := load(t, a, srk, seal(t, a, srk, secret, auth, nil))
	// Salted with the SRK, named by its virtual handle in StartAuthSession.
	srkPub, err := srk.OutPublic.Contents()
	if err != nil {
		t.Fatal(err)
	}
	sess, closeSess, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16, tpm2.Auth(auth),
		tpm2.Salted(srk.ObjectHandle, *srkPub), tpm2.AESEncryption(128, tpm2.EncryptOut))
	if err != nil {
		t.Fatalf("HMACSession: %v", err)
	}
	h := uint32(sess.Handle())
	if handleType(h) != 0x02 {
		t.Fatalf("HMAC session handle 0x%08x", h)
	}
	assertOnlyResident(t, m, tpm)
	if saved := tpmHandles(t, tpm, capSavedSession); !slices.Contains(saved, h) {
		t.Errorf("TPM's saved sessions %08x lack 0x%08x", saved, h)
	}

	// go-tpm checks each response HMAC, which only holds if the session's
	// nonces survived every save and load in between.
	item := tpm2.AuthHandle{Handle: obj.ObjectHandle, Name: obj.Name, Auth: sess}
	for range 3 {
		rsp, err := tpm2.Unseal{ItemHandle: item}.Execute(a)
		if err != nil {
			t.Fatalf("Unseal with the HMAC session: %v", err)
		}
		if !bytes.Equal(rsp.OutData.Buffer, secret) {
			t.Fatalf("unsealed %q", rsp.OutData.Buffer)
		}
		assertOnlyResident(t, m, tpm)
	}

	// Another space can neither use nor flush the session.
	b := newClient(m, tpm)
	withSession := rawCommand(0x8002, 0x17B, authArea(rawAuth(h, 1)), be16(8))
	if rc := responseRC(t, b, withSession); rc != rmHandleSess1 {
		t.Errorf("B using A's session: rc 0x%x, want 0x%x", rc, rmHandleSess1)
	}
	_, err = tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(h)}.Execute(b)
	if rc := rcOf(t, err); rc != rmHandleParam1 {
		t.Errorf("B flushing A's session: rc 0x%x, want 0x%x", uint32(rc), rmHandleParam1)
	}
	if _, err := (tpm2.Unseal{ItemHandle: item}).Execute(a); err != nil {
		t.Fatalf("A's session broken by B: %v", err)
	}

	if err := closeSess(); err != nil {
		t.Fatalf("flush session: %v", err)
	}
	if saved := tpmHandles(t, tpm, capSavedSession); len(saved) != 0 {
		t.Errorf("saved sessions after FlushContext: %08x", saved)
	}
	a.close(t)
	b.close(t)
}

func TestSessionFlushedByCommandIsForgotten(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a := newClient(m, tpm)
	secret, auth := []byte("one-shot"), []byte("pw")
	srk := createPrimary(t, a, tpm2.ECCSRKTemplate)
	obj := load(t, a, srk, seal(t, a, srk, secret, auth, nil))

	// go-tpm's HMAC() starts a session for one command, continueSession
	// clear: the TPM flushes it when the command succeeds.
	for range 2 {
		rsp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{
			Handle: obj.ObjectHandle, Name: obj.Name, Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Auth(auth)),
		}}.Execute(a)
		if err != nil {
			t.Fatalf("Unseal with a one-shot session: %v", err)
		}
		if !bytes.Equal(rsp.OutData.Buffer, secret) {
			t.Fatalf("unsealed %q", rsp.OutData.Buffer)
		}
	}
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("TPM still has sessions %08x", hs)
	}
	if hs := clientHandles(t, a, capLoadedSession, 254); len(hs) != 0 {
		t.Errorf("space still lists sessions %08x", hs)
	}
	a.close(t)
}

func TestPolicySessionSavedByClientMovesToAnotherSpace(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a := newClient(m, tpm)
	secret, auth := []byte("policy-protected"), []byte("pw")
	policy := policyAuthValueDigest(1)

	srk := createPrimary(t, a, tpm2.ECCSRKTemplate)
	obj := load(t, a, srk, seal(t, a, srk, secret, auth, policy))
	sess, _, err := tpm2.PolicySession(a, tpm2.TPMAlgSHA256, 16, tpm2.Auth(auth))
	if err != nil {
		t.Fatalf("PolicySession: %v", err)
	}
	h := uint32(sess.Handle())
	// The session in the handle area, then in the authorization area.
	if _, err := (tpm2.PolicyAuthValue{PolicySession: sess.Handle()}).Execute(a); err != nil {
		t.Fatalf("PolicyAuthValue: %v", err)
	}
	dg, err := tpm2.PolicyGetDigest{PolicySession: sess.Handle()}.Execute(a)
	if err != nil {
		t.Fatalf("PolicyGetDigest: %v", err)
	}
	if !bytes.Equal(dg.PolicyDigest.Buffer, policy) {
		t.Fatalf("policy digest %x, want %x", dg.PolicyDigest.Buffer, policy)
	}
	item := tpm2.AuthHandle{Handle: obj.ObjectHandle, Name: obj.Name, Auth: sess}
	rsp, err := tpm2.Unseal{ItemHandle: item}.Execute(a)
	if err != nil {
		t.Fatalf("Unseal with the policy session: %v", err)
	}
	if !bytes.Equal(rsp.OutData.Buffer, secret) {
		t.Fatalf("unsealed %q", rsp.OutData.Buffer)
	}

	// As tpm2_startauthsession -S does: the client saves the session and
	// its process ends. The session outlives the space, owned by the blob.
	if _, err := (tpm2.PolicyAuthValue{PolicySession: sess.Handle()}).Execute(a); err != nil {
		t.Fatalf("PolicyAuthValue: %v", err)
	}
	sessCtx, err := tpm2.ContextSave{SaveHandle: sess.Handle()}.Execute(a)
	if err != nil {
		t.Fatalf("ContextSave of the session: %v", err)
	}
	objCtx, err := tpm2.ContextSave{SaveHandle: obj.ObjectHandle}.Execute(a)
	if err != nil {
		t.Fatalf("ContextSave of the object: %v", err)
	}
	// The TPM lists saved sessions by index in the HMAC range, whatever
	// their type (it cannot tell without loading them).
	savedForm := 0x02000000 | h&0xFFFFFF
	if hs := clientHandles(t, a, capSavedSession, 254); !slices.Equal(hs, []uint32{savedForm}) {
		t.Errorf("A's saved sessions %08x, want [%08x]", hs, savedForm)
	}
	if hs := clientHandles(t, a, capLoadedSession, 254); len(hs) != 0 {
		t.Errorf("A still lists %08x as its own", hs)
	}
	a.close(t)
	if saved := tpmHandles(t, tpm, capSavedSession); !slices.Equal(saved, []uint32{savedForm}) {
		t.Fatalf("after A closed the TPM holds sessions %08x, want [%08x]", saved, savedForm)
	}

	// Another process of A's user lists it, as tpm2_flushcontext
	// --saved-session would; another user's does not.
	same := newClient(m, tpm)
	if hs := clientHandles(t, same, capSavedSession, 254); !slices.Equal(hs, []uint32{savedForm}) {
		t.Errorf("a client of A's uid sees saved sessions %08x, want [%08x]", hs, savedForm)
	}
	same.close(t)
	// The next process, another user's, loads both and unseals with the
	// session.
	b, err := newClientAs(m, tpm, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if hs := clientHandles(t, b, capSavedSession, 254); len(hs) != 0 {
		t.Errorf("B sees saved sessions %08x of another user", hs)
	}
	ls, err := tpm2.ContextLoad{Context: sessCtx.Context}.Execute(b)
	if err != nil {
		t.Fatalf("ContextLoad of the session in B: %v", err)
	}
	if uint32(ls.LoadedHandle) != h {
		t.Errorf("session came back as 0x%08x, want 0x%08x", uint32(ls.LoadedHandle), h)
	}
	lo, err := tpm2.ContextLoad{Context: objCtx.Context}.Execute(b)
	if err != nil {
		t.Fatalf("ContextLoad of the object in B: %v", err)
	}
	item = tpm2.AuthHandle{Handle: lo.LoadedHandle, Name: obj.Name, Auth: sess}
	if rsp, err = (tpm2.Unseal{ItemHandle: item}).Execute(b); err != nil {
		t.Fatalf("Unseal in B with the reloaded session: %v", err)
	}
	if !bytes.Equal(rsp.OutData.Buffer, secret) {
		t.Fatalf("unsealed %q", rsp.OutData.Buffer)
	}
	if hs := clientHandles(t, b, capLoadedSession, 254); !slices.Equal(hs, []uint32{h}) {
		t.Errorf("B's sessions %08x, want [%08x]", hs, h)
	}
	// B owns it now, so closing B flushes it.
	b.close(t)
	assertNothingLoaded(t, tpm)
	if saved := tpmHandles(t, tpm, capSavedSession); len(saved) != 0 {
		t.Errorf("sessions left after B closed: %08x", saved)
	}
}

func TestSessionQuota(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	a := newClient(m, tpm)
	for range MaxSessions {
		if _, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16); err != nil {
			t.Fatalf("HMACSession: %v", err)
		}
	}
	_, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16)
	if rc := rcOf(t, err); rc != rmSessionMemory {
		t.Errorf("session past quota: rc 0x%x, want 0x%x", uint32(rc), rmSessionMemory)
	}
	if n := len(tpmHandles(t, tpm, capSavedSession)) + len(tpmHandles(t, tpm, capLoadedSession)); n != MaxSessions {
		t.Errorf("TPM holds %d sessions, want %d", n, MaxSessions)
	}
	a.close(t)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("sessions left: %08x", hs)
	}
}

// TestContextGap runs far more session saves than the TPM's context
// counter window (256 on the simulator) while another space keeps an old
// saved session: the manager must save that one again in time.
func TestContextGap(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	m.SetLogger(logger)

	a := newClient(m, tpm)
	old, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptOut))
	if err != nil {
		t.Fatalf("HMACSession: %v", err)
	}
	b := newClient(m, tpm)
	busy, _, err := tpm2.PolicySession(b, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("PolicySession: %v", err)
	}
	const n = 600
	// Another client wants every slot after each of b's commands, so
	// b's session is saved each time.
	runPolicyAuthValues(t, swapping{b}, busy.Handle(), n)
	// The old session still works: its response HMAC checks out.
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(a, old); err != nil {
		t.Fatalf("old session after the gap: %v", err)
	}
	regaps := 0
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, "saved again to close the context gap") {
			regaps++
		}
	}
	if regaps == 0 {
		t.Errorf("no context gap was met in %d saves; the test proves nothing", n)
	}
	a.close(t)
	b.close(t)
	assertNothingLoaded(t, tpm)
}

// swapping is a client after each of whose commands the manager swaps
// everything out, as when other clients want every slot of the TPM.
type swapping struct{ *client }

func (s swapping) Send(cmd []byte) ([]byte, error) {
	rsp, err := s.client.Send(cmd)
	if err == nil {
		err = s.m.SwapOut(s.tpm)
	}
	return rsp, err
}

// responseRC sends raw bytes through a client and returns the response code.
func responseRC(t *testing.T, c *client, cmd []byte) uint32 {
	t.Helper()
	rsp, err := c.Send(cmd)
	if err != nil {
		t.Fatalf("Transmit: %v", err)
	}
	if len(rsp) < 10 || int(be32At(rsp, 2)) != len(rsp) {
		t.Fatalf("malformed response %x", rsp)
	}
	return be32At(rsp, 6)
}

func be32At(b []byte, off int) uint32 {
	return uint32(b[off])<<24 | uint32(b[off+1])<<16 | uint32(b[off+2])<<8 | uint32(b[off+3])
}

// TestOrphanedSessionsDoNotExhaustTPM: clients that save sessions and
// leave cannot use up the TPM's session handles; the oldest orphan goes
// when a new session needs its place.
func TestOrphanedSessionsDoNotExhaustTPM(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	blobs := fillWithOrphans(t, m, tpm)
	max := len(blobs)
	if n := len(tpmHandles(t, tpm, capSavedSession)); n != max {
		t.Fatalf("TPM holds %d saved sessions, want it full at %d", n, max)
	}

	// A new client still gets a session: the oldest orphan makes room.
	c := newClient(m, tpm)
	if _, _, err := tpm2.HMACSession(c, tpm2.TPMAlgSHA256, 16); err != nil {
		t.Fatalf("session with the TPM full of orphans: %v", err)
	}
	if _, err := (tpm2.ContextLoad{Context: blobs[0]}).Execute(c); err == nil {
		t.Errorf("the oldest orphan still loads; it should have made room")
	}
	if _, err := (tpm2.ContextLoad{Context: blobs[max-1]}).Execute(c); err != nil {
		t.Errorf("the newest orphan does not load: %v", err)
	}
	c.close(t)
}

// TestOrphanBlockingContextGapIsFlushed: a client-saved session that
// nobody loads again would block every session save once the context
// counter comes round; the manager flushes it instead.
func TestOrphanBlockingContextGapIsFlushed(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	_, blob := orphanSession(t, m, tpm)
	b := newClient(m, tpm)
	busy, _, err := tpm2.PolicySession(b, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("PolicySession: %v", err)
	}
	runPolicyAuthValues(t, swapping{b}, busy.Handle(), 600)
	if _, err := (tpm2.ContextLoad{Context: blob}).Execute(b); err == nil {
		t.Errorf("the orphan blocking the gap still loads")
	}
	b.close(t)
	assertNothingLoaded(t, tpm)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("sessions left: %08x", hs)
	}
}

// tpmProperty reads one TPM_CAP_TPM_PROPERTIES value from the TPM.
func tpmProperty(t *testing.T, tpm transport.TPM, p tpm2.TPMPT) int {
	t.Helper()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(p), PropertyCount: 1}.Execute(tpm)
	if err != nil {
		t.Fatalf("GetCapability: %v", err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil || len(props.TPMProperty) == 0 || props.TPMProperty[0].Property != p {
		t.Fatalf("TPM property 0x%x: %v", uint32(p), err)
	}
	return int(props.TPMProperty[0].Value)
}

// fillWithOrphans orphans as many sessions as the TPM holds
// (TPM_PT_ACTIVE_SESSIONS_MAX) and returns their contexts, oldest first.
func fillWithOrphans(t *testing.T, m *Manager, tpm transport.TPM) []tpm2.TPMSContext {
	t.Helper()
	var blobs []tpm2.TPMSContext
	for range tpmProperty(t, tpm, tpm2.TPMPTActiveSessionsMax) {
		_, blob := orphanSession(t, m, tpm)
		blobs = append(blobs, blob)
	}
	return blobs
}

// orphanSession starts a session in a new space, saves it as
// tpm2_startauthsession -S does, and closes the space.
func orphanSession(t *testing.T, m *Manager, tpm transport.TPM) (tpm2.TPMHandle, tpm2.TPMSContext) {
	t.Helper()
	c := newClient(m, tpm)
	s, _, err := tpm2.PolicySession(c, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("PolicySession: %v", err)
	}
	saved, err := tpm2.ContextSave{SaveHandle: s.Handle()}.Execute(c)
	if err != nil {
		t.Fatalf("ContextSave: %v", err)
	}
	c.close(t)
	return s.Handle(), saved.Context
}
