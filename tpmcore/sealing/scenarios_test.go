package sealing

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
)

// scenario runs against every kind of TPM (simulator, swtpm), each on a
// fresh one.
type scenario struct {
	name string
	run  func(t *testing.T, tpm transport.TPM)
}

var scenarios = []scenario{
	{"RoundTrip", roundTrip},
	{"PolicyDigestTrial", policyDigestTrial},
	{"PolicyFailure", policyFailure},
	{"Reseal", reseal},
	{"Corrupt", corrupt},
	{"OwnerAuth", ownerAuth},
	{"CommandCount", commandCount},
	{"PCRChanged", pcrChanged},
	{"PCRReadRace", pcrReadRace},
	{"InactiveBank", inactiveBank},
	{"KeyNeverInClear", keyNeverInClear},
	{"KeeperPersistentSRK", keeperPersistentSRK},
	{"KeeperOtherPersistent", keeperOtherPersistent},
	{"KeeperRecovers", keeperRecovers},
	{"KeeperParent", keeperParent},
}

// roundTrip seals and unseals secrets of the sizes the contract names,
// with and without PCRs, checking the object's TPM attributes and that
// nothing stays loaded.
func roundTrip(t *testing.T, tpm transport.TPM) {
	for _, selStr := range []string{"", "sha256:0,7", "sha1:1+sha256:0,7"} {
		sel := mustParse(t, selStr)
		for _, n := range []int{0, 1, 128, 5000, MaxSecretSize} {
			secret := secretOf(n)
			obj, err := Seal(tpm, nil, "obj", Bind(sel), secret)
			if err != nil {
				t.Fatalf("Seal(%q, %d bytes): %v", selStr, n, err)
			}
			assertNoHandles(t, tpm, "Seal")
			if obj.Selection != selStr {
				t.Errorf("Selection = %q, want %q", obj.Selection, selStr)
			}
			checkPublic(t, obj, !sel.IsEmpty())
			if bytes.Contains(obj.Ciphertext, secret[:min(n, 64)]) && n >= 16 {
				t.Errorf("ciphertext contains the secret")
			}
			got, err := Unseal(tpm, nil, "obj", obj, nil)
			if err != nil {
				t.Fatalf("Unseal(%q, %d bytes): %v", selStr, n, err)
			}
			if !bytes.Equal(got, secret) {
				t.Fatalf("Unseal(%q, %d bytes) returned other bytes", selStr, n)
			}
			assertNoHandles(t, tpm, "Unseal")
		}
	}
	if _, err := Seal(tpm, nil, "obj", Bind(pcrsel.Selection{}), make([]byte, MaxSecretSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Seal(1 MiB + 1) err = %v, want ErrTooLarge", err)
	}
}

// checkPublic decodes the sealed object's public area by itself and checks
// the attributes the contract asks for.
func checkPublic(t *testing.T, obj *Object, bound bool) {
	t.Helper()
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](obj.Public)
	if err != nil {
		t.Fatal(err)
	}
	area, err := pub.Contents()
	if err != nil {
		t.Fatal(err)
	}
	a := area.ObjectAttributes
	if area.Type != tpm2.TPMAlgKeyedHash || !a.FixedTPM || !a.FixedParent || !a.NoDA ||
		a.SensitiveDataOrigin || a.SignEncrypt || a.Decrypt || a.Restricted {
		t.Errorf("sealed object type %v attributes %+v", area.Type, a)
	}
	if a.UserWithAuth == bound {
		t.Errorf("userWithAuth = %v with PCRs bound = %v", a.UserWithAuth, bound)
	}
	if !bytes.Equal(area.AuthPolicy.Buffer, obj.Policy) || (len(obj.Policy) == 32) != bound {
		t.Errorf("authPolicy %x, Object.Policy %x, bound %v", area.AuthPolicy.Buffer, obj.Policy, bound)
	}
}

// policyDigestTrial checks PolicyDigest against the TPM's own
// computation in a trial session, for PCR values we set.
func policyDigestTrial(t *testing.T, tpm transport.TPM) {
	extend(t, tpm, pcrsel.SHA256, 7, readPCR(t, tpm, pcrsel.SHA256, 7), []byte("boot"))
	extend(t, tpm, pcrsel.SHA1, 1, readPCR(t, tpm, pcrsel.SHA1, 1), []byte("cfg"))
	for _, s := range []string{"sha256:7", "sha256:0,7", "sha1:1+sha256:0,7,16", "sha1:all+sha256:all"} {
		sel := mustParse(t, s)
		obj, err := Seal(tpm, nil, "p", Bind(sel), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		sess, closeSess, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, 16, tpm2.Trial())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (tpm2.PolicyPCR{PolicySession: sess.Handle(), Pcrs: sel.TPML()}).Execute(tpm); err != nil {
			t.Fatal(err)
		}
		rsp, err := tpm2.PolicyGetDigest{PolicySession: sess.Handle()}.Execute(tpm)
		if err != nil {
			t.Fatal(err)
		}
		if err := closeSess(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(obj.Policy, rsp.PolicyDigest.Buffer) {
			t.Errorf("%s: Seal policy %x, trial session %x", s, obj.Policy, rsp.PolicyDigest.Buffer)
		}
		if d, err := PolicyDigest(sel, obj.PCRValues); err != nil || !bytes.Equal(d, obj.Policy) {
			t.Errorf("%s: PolicyDigest = %x, %v", s, d, err)
		}
		// The values sealed to are the PCRs' values, read here one by one.
		if len(obj.PCRValues) != sel.Len() {
			t.Fatalf("%s: %d PCR values", s, len(obj.PCRValues))
		}
		for i, p := range sel.PCRs() {
			v := obj.PCRValues[i]
			if v.Bank != p.Bank.Name || v.Index != p.Index || !bytes.Equal(v.Digest, readPCR(t, tpm, p.Bank, p.Index)) {
				t.Errorf("%s: PCRValues[%d] = %s %x", s, i, v, v.Digest)
			}
		}
	}
	if _, err := PolicyDigest(mustParse(t, "sha256:0,7"), nil); err == nil {
		t.Error("PolicyDigest with missing values: no error")
	}
}

func policyFailure(t *testing.T, tpm transport.TPM) {
	bound, err := Seal(tpm, nil, "bound", Bind(mustParse(t, "sha1:0+sha256:0,7")), []byte("bound secret"))
	if err != nil {
		t.Fatal(err)
	}
	free, err := Seal(tpm, nil, "free", Bind(pcrsel.Selection{}), []byte("free secret"))
	if err != nil {
		t.Fatal(err)
	}
	old7 := readPCR(t, tpm, pcrsel.SHA256, 7)
	want7 := extend(t, tpm, pcrsel.SHA256, 7, old7, []byte("evil"))
	extend(t, tpm, pcrsel.SHA256, 3, readPCR(t, tpm, pcrsel.SHA256, 3), []byte("not selected"))

	_, err = Unseal(tpm, nil, "bound", bound, nil)
	var perr *PolicyError
	if !errors.Is(err, ErrPolicy) || !errors.As(err, &perr) {
		t.Fatalf("Unseal after extend: err = %v, want ErrPolicy and *PolicyError", err)
	}
	if len(perr.Differ) != 1 || perr.Differ[0].Bank != "sha256" || perr.Differ[0].Index != 7 ||
		!bytes.Equal(perr.Differ[0].Digest, want7) {
		t.Errorf("Differ = %+v, want sha256:7 = %x", perr.Differ, want7)
	}
	assertNoHandles(t, tpm, "failed Unseal")

	if got, err := Unseal(tpm, nil, "free", free, nil); err != nil || string(got) != "free secret" {
		t.Errorf("object without PCRs after extend: %q, %v", got, err)
	}

	want0 := extend(t, tpm, pcrsel.SHA1, 0, readPCR(t, tpm, pcrsel.SHA1, 0), []byte("more"))
	_, err = Unseal(tpm, nil, "bound", bound, nil)
	if !errors.As(err, &perr) || len(perr.Differ) != 2 ||
		perr.Differ[0].String() != "sha1:0" || !bytes.Equal(perr.Differ[0].Digest, want0) ||
		perr.Differ[1].String() != "sha256:7" {
		t.Errorf("second failure: %v, Differ %+v", err, perr)
	}
	if msg := err.Error(); !bytes.Contains([]byte(msg), []byte("sha1:0 sha256:7")) {
		t.Errorf("error %q does not name the PCRs", msg)
	}
}

func reseal(t *testing.T, tpm transport.TPM) {
	obj, err := Seal(tpm, nil, "r", Bind(mustParse(t, "sha256:7")), []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := Reseal(tpm, nil, "r", obj, nil, Bind(mustParse(t, "sha256:0")))
	if err != nil {
		t.Fatal(err)
	}
	assertNoHandles(t, tpm, "Reseal")
	if moved.Selection != "sha256:0" || bytes.Equal(moved.Ciphertext, obj.Ciphertext) {
		t.Errorf("Reseal: selection %q, ciphertext unchanged %v", moved.Selection, bytes.Equal(moved.Ciphertext, obj.Ciphertext))
	}
	extend(t, tpm, pcrsel.SHA256, 7, readPCR(t, tpm, pcrsel.SHA256, 7), []byte("x"))
	if got, err := Unseal(tpm, nil, "r", moved, nil); err != nil || string(got) != "s3cret" {
		t.Errorf("resealed object after PCR 7 moved: %q, %v", got, err)
	}
	if _, err := Unseal(tpm, nil, "r", obj, nil); !errors.Is(err, ErrPolicy) {
		t.Errorf("old object after PCR 7 moved: %v, want ErrPolicy", err)
	}
	if out, err := Reseal(tpm, nil, "r", obj, nil, Bind(pcrsel.Selection{})); !errors.Is(err, ErrPolicy) || out != nil {
		t.Errorf("Reseal under a failing policy: %v, %v; want ErrPolicy", out, err)
	}
	assertNoHandles(t, tpm, "failed Reseal")
	unbound, err := Reseal(tpm, nil, "r", moved, nil, Bind(pcrsel.Selection{}))
	if err != nil {
		t.Fatal(err)
	}
	checkPublic(t, unbound, false)
	if got, err := Unseal(tpm, nil, "r", unbound, nil); err != nil || string(got) != "s3cret" {
		t.Errorf("object resealed without PCRs: %q, %v", got, err)
	}
}
