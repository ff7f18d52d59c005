package rm

import (
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"tpmfs/tpmcore/cmdpolicy"
)

const (
	rmDisabled  = 0x000B0120 // RM layer | TPM_RC_DISABLED
	rmHierarchy = 0x000B0185 // RM layer | TPM_RC_HIERARCHY, handle 1
	userA       = 1000
	userB       = 1001
)

// restricted sets standard rules with uid 0 as the admin and quota q.
func restricted(m *Manager, q *Quota) *logtest.Hook {
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	m.SetLogger(logger)
	m.SetRules(Rules{Policy: cmdpolicy.Standard, Quota: q, Admins: []uint32{0}})
	return hook
}

func mustClientAs(t *testing.T, m *Manager, c *client, uid uint32) *client {
	t.Helper()
	cl, err := newClientAs(m, c.tpm, uid)
	if err != nil {
		t.Fatalf("NewSpace(%d): %v", uid, err)
	}
	return cl
}

// TestPolicyRefusesAndChangesNothing: a non-admin's EvictControl,
// HierarchyChangeAuth and Clear get the RM-layer refusal and one log line
// naming uid and command; the TPM (asked directly) is unchanged; an admin
// does the same at once.
func TestPolicyRefusesAndChangesNothing(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	hook := restricted(m, nil)
	root := newClient(m, tpm)
	user := mustClientAs(t, m, root, userA)

	srk := createPrimary(t, user, tpm2.ECCSRKTemplate) // creating is fine
	_, err := tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: srk.ObjectHandle, Name: srk.Name},
		PersistentHandle: 0x81000001,
	}.Execute(user)
	if rc := rcOf(t, err); rc != rmDisabled {
		t.Errorf("EvictControl by uid %d: rc 0x%x, want 0x%x", userA, uint32(rc), rmDisabled)
	}
	if hs := tpmHandles(t, tpm, capPersistent); len(hs) != 0 {
		t.Errorf("persistent handles after a refused EvictControl: %08x", hs)
	}
	_, err = tpm2.HierarchyChangeAuth{AuthHandle: tpm2.TPMRHOwner, NewAuth: tpm2.TPM2BAuth{Buffer: []byte("stolen")}}.Execute(user)
	if rc := rcOf(t, err); rc != rmDisabled {
		t.Errorf("HierarchyChangeAuth: rc 0x%x", uint32(rc))
	}
	_, err = tpm2.Clear{AuthHandle: tpm2.TPMRHLockout}.Execute(user)
	if rc := rcOf(t, err); rc != rmDisabled {
		t.Errorf("Clear: rc 0x%x", uint32(rc))
	}
	// The owner's secret is still empty: the TPM itself creates under it.
	createPrimary(t, tpm, tpm2.ECCSRKTemplate)
	flushAll(t, tpm)

	// A platform primary: refused by its hierarchy, naming handle 1.
	_, err = tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHPlatform, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(user)
	if rc := rcOf(t, err); rc != rmHierarchy {
		t.Errorf("CreatePrimary(platform): rc 0x%x, want 0x%x", uint32(rc), rmHierarchy)
	}

	var lines int
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, "command refused") {
			lines++
			if e.Data["uid"] != uint32(userA) || !strings.HasPrefix(e.Data["command"].(string), "TPM2_CC_") {
				t.Errorf("refusal log without uid or command: %v %s", e.Data, e.Message)
			}
		}
	}
	if lines != 4 {
		t.Errorf("%d refusal log lines, want 4", lines)
	}

	// The admin may.
	rsrk := createPrimary(t, root, tpm2.ECCSRKTemplate)
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: rsrk.ObjectHandle, Name: rsrk.Name},
		PersistentHandle: 0x81000001,
	}).Execute(root); err != nil {
		t.Fatalf("EvictControl by root: %v", err)
	}
	if hs := tpmHandles(t, tpm, capPersistent); len(hs) != 1 {
		t.Errorf("persistent handles after root's EvictControl: %08x", hs)
	}
	// The user may use the persistent SRK, not remove it.
	if _, err := (tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(0x81000001)}).Execute(user); err != nil {
		t.Errorf("ReadPublic of the persistent SRK by the user: %v", err)
	}
	_, err = tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: 0x81000001, Name: rsrk.Name},
		PersistentHandle: 0x81000001,
	}.Execute(user)
	if rc := rcOf(t, err); rc != rmDisabled {
		t.Errorf("EvictControl (remove) by the user: rc 0x%x", uint32(rc))
	}
	if hs := tpmHandles(t, tpm, capPersistent); len(hs) != 1 {
		t.Errorf("persistent handles after the user's refused removal: %08x", hs)
	}
	user.close(t)
	root.close(t)
	assertNothingLoaded(t, tpm)
}

// TestOpenPolicyRefusesNothing: rm_policy=open is today's tpmrm0.
func TestOpenPolicyRefusesNothing(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	m.SetRules(Rules{Policy: cmdpolicy.Open, Admins: []uint32{0}})
	user, err := newClientAs(m, tpm, userA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.HierarchyChangeAuth{AuthHandle: tpm2.TPMRHOwner, NewAuth: tpm2.TPM2BAuth{Buffer: []byte("x")}}).Execute(user); err != nil {
		t.Errorf("HierarchyChangeAuth at open: %v", err)
	}
	user.close(t)
}

// flushAll flushes every transient object of the TPM itself.
func flushAll(t *testing.T, tpm interface {
	Send([]byte) ([]byte, error)
}) {
	t.Helper()
	for _, h := range tpmHandles(t, tpm, capTransient) {
		if _, err := (tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(h)}).Execute(tpm); err != nil {
			t.Fatalf("flush 0x%08x: %v", h, err)
		}
	}
}
