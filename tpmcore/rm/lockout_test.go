package rm

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

const rmLockout = 0x000B0921 // RM layer | TPM_RC_LOCKOUT

// passwordObject creates, through c, a primary sealed-data object that
// only the password pw opens and that the dictionary-attack logic
// protects (no noDA).
func passwordObject(t *testing.T, c transport.TPM, pw string) tpm2.NamedHandle {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: []byte(pw)},
			Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: []byte("sealed")}),
		}},
		InPublic: tpm2.New2B(tpm2.TPMTPublic{
			Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256,
			ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, UserWithAuth: true},
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
				Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull}}),
		}),
	}.Execute(c)
	if err != nil {
		t.Fatalf("CreatePrimary: %v", err)
	}
	return tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}
}

func unsealWith(c transport.TPM, obj tpm2.NamedHandle, pw string) error {
	_, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: obj.Handle, Name: obj.Name, Auth: tpm2.PasswordAuth([]byte(pw))}}.Execute(c)
	return err
}

func lockoutCounter(t *testing.T, tpm transport.TPM) uint32 {
	t.Helper()
	var d da
	if err := d.read(tpm); err != nil {
		t.Fatal(err)
	}
	return d.counter
}

// lockReset sends TPM2_DictionaryAttackLockReset with the empty lockout
// auth. go-tpm has no typed command for it, so the test writes its bytes:
// header, TPM_RH_LOCKOUT, a password session with an empty password.
func lockReset(t *testing.T, tpm transport.TPM) {
	t.Helper()
	cmd := []byte{
		0x80, 0x02, 0, 0, 0, 27, 0, 0, 0x01, 0x39, // TPM_ST_SESSIONS, size, TPM_CC_DictionaryAttackLockReset
		0x40, 0, 0, 0x0A, // TPM_RH_LOCKOUT
		0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0, // auth area: TPM_RS_PW, no nonce, attrs 0, empty hmac
	}
	rsp, err := tpm.Send(cmd)
	if err != nil || len(rsp) < 10 || rsp[6]|rsp[7]|rsp[8]|rsp[9] != 0 {
		t.Fatalf("DictionaryAttackLockReset: %x, %v", rsp, err)
	}
}

// TestDAGuard: wrong passwords of users cost each of them one failure,
// and all of them together never more than the TPM's tries minus root's
// reserve; past that their authorizations are refused by the manager,
// the TPM never reaches lockout, and root's objects keep opening. (The
// reference simulator allows 3 tries, one every 1000 s.)
func TestDAGuard(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	restricted(m, nil)
	clock := time.Unix(1000, 0)
	m.da.now = func() time.Time { return clock }
	root := newClient(m, tpm)
	mine := passwordObject(t, root, "root's")

	users := map[uint32]*client{}
	objs := map[uint32]tpm2.NamedHandle{}
	for _, uid := range []uint32{1001, 1002, 1003, 1004} {
		users[uid] = mustClientAs(t, m, root, uid)
		objs[uid] = passwordObject(t, users[uid], "right")
	}
	wantRC := func(what string, err error, rc uint32) {
		t.Helper()
		var got tpm2.TPMRC
		if !errors.As(err, &got) || uint32(got) != rc {
			t.Errorf("%s: %v, want %#x", what, err, rc)
		}
	}
	isAuthFailErr := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, tpm2.TPMRCAuthFail) {
			t.Errorf("%s: %v, want the TPM's TPM_RC_AUTH_FAIL", what, err)
		}
	}
	// 3 tries, 1 reserved for root: each user one failure, two in all.
	isAuthFailErr("1001's first wrong password", unsealWith(users[1001], objs[1001], "wrong"))
	wantRC("1001's second try", unsealWith(users[1001], objs[1001], "wrong"), rmLockout)
	wantRC("1001's right password while its failure lasts", unsealWith(users[1001], objs[1001], "right"), rmLockout)
	if err := unsealWith(users[1003], objs[1003], "right"); err != nil {
		t.Errorf("1003's right password: %v", err)
	}
	isAuthFailErr("1002's wrong password", unsealWith(users[1002], objs[1002], "wrong"))
	wantRC("1003 when the users' part is spent", unsealWith(users[1003], objs[1003], "right"), rmLockout)
	if n := lockoutCounter(t, tpm); n != 2 {
		t.Errorf("lockout counter %d, want 2", n)
	}
	if err := unsealWith(root, mine, "root's"); err != nil {
		t.Errorf("root's own object: %v", err)
	}
	// 1001's failure decays with the TPM's interval: its own limit lifts
	// (the counter, read afresh, still holds the users' part).
	clock = clock.Add(1001 * time.Second)
	if rc := m.da.decay(1001); len(rc) != 0 {
		t.Errorf("1001's failure did not decay: %v", rc)
	}
	wantRC("1001 after its failure decayed, counter still high", unsealWith(users[1001], objs[1001], "right"), rmLockout)
	lockReset(t, tpm)
	if err := unsealWith(users[1001], objs[1001], "right"); err != nil {
		t.Errorf("1001 after the counter was reset: %v", err)
	}
	for _, c := range users {
		c.close(t)
	}
	root.close(t)
}
