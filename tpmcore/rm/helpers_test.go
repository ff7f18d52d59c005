package rm

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/simulator"
)

// openSim opens the in-process reference TPM (one per process at a time;
// each open starts from a fresh, manufactured TPM).
func openSim(t *testing.T) transport.TPM {
	t.Helper()
	tpm, err := simulator.OpenSimulator()
	if err != nil {
		t.Fatalf("open simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := tpm.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return tpm
}

func newManager(t *testing.T, tpm transport.TPM) *Manager {
	t.Helper()
	m, err := New(tpm)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// client is one open of tpmrm0: a transport whose commands all go through
// the manager in one space, so go-tpm's typed commands run over it.
type client struct {
	m   *Manager
	sp  *Space
	tpm transport.TPM
}

func newClient(m *Manager, tpm transport.TPM) *client {
	sp, err := m.NewSpace(0)
	if err != nil {
		panic(err) // no quota unless a test sets one, and then it uses newClientAs
	}
	return &client{m: m, sp: sp, tpm: tpm}
}

// newClientAs opens a space for uid, which may be refused (ErrTooManyOpen).
func newClientAs(m *Manager, tpm transport.TPM, uid uint32) (*client, error) {
	sp, err := m.NewSpace(uid)
	if err != nil {
		return nil, err
	}
	return &client{m: m, sp: sp, tpm: tpm}, nil
}

func (c *client) Send(cmd []byte) ([]byte, error) { return c.m.Transmit(c.tpm, c.sp, cmd) }

func (c *client) close(t *testing.T) {
	t.Helper()
	if err := c.m.Flush(c.tpm, c.sp); err != nil {
		t.Errorf("Flush: %v", err)
	}
}

// tpmHandles asks the TPM itself, bypassing the manager, for its handles
// of first's type from first on.
func tpmHandles(t *testing.T, tpm transport.TPM, first uint32) []uint32 {
	t.Helper()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: 254}.Execute(tpm)
	if err != nil {
		t.Fatalf("GetCapability(handles 0x%08x) on the TPM: %v", first, err)
	}
	l, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		t.Fatalf("GetCapability: %v", err)
	}
	var hs []uint32
	for _, h := range l.Handle {
		hs = append(hs, uint32(h))
	}
	return hs
}

// Handle ranges as GetCapability(TPM_CAP_HANDLES) takes them (Part 2, 7.2).
const (
	capTransient     = 0x80000000
	capLoadedSession = 0x02000000
	capSavedSession  = 0x03000000
	capPersistent    = 0x81000000
)

// assertOnlyResident checks on the TPM itself that what is loaded is
// what the manager keeps resident, and that after SwapOut nothing is:
// the manager leaks nothing, and can give every slot back.
func assertOnlyResident(t *testing.T, m *Manager, tpm transport.TPM) {
	t.Helper()
	loaded := append(tpmHandles(t, tpm, capTransient), tpmHandles(t, tpm, capLoadedSession)...)
	slices.Sort(loaded)
	if res := m.Resident(); !slices.Equal(loaded, res) {
		t.Errorf("TPM has %08x loaded, the manager keeps %08x resident", loaded, res)
	}
	if err := m.SwapOut(tpm); err != nil {
		t.Fatalf("SwapOut: %v", err)
	}
	assertNothingLoaded(t, tpm)
}

// assertNothingLoaded checks on the TPM itself that no object and no
// session is loaded.
func assertNothingLoaded(t *testing.T, tpm transport.TPM) {
	t.Helper()
	if hs := tpmHandles(t, tpm, capTransient); len(hs) != 0 {
		t.Errorf("TPM has transient objects loaded: %08x", hs)
	}
	if hs := tpmHandles(t, tpm, capLoadedSession); len(hs) != 0 {
		t.Errorf("TPM has sessions loaded: %08x", hs)
	}
}

// rcOf returns the TPM response code err carries; the test fails if err
// is not one (a transport failure, or success).
func rcOf(t *testing.T, err error) tpm2.TPMRC {
	t.Helper()
	var rc tpm2.TPMRC
	if !errors.As(err, &rc) {
		t.Fatalf("want a TPM error response, got %v", err)
	}
	return rc
}

// eccSigningKey is an ECDSA P-256 signing key template; unique makes
// primaries from it distinct keys.
func eccSigningKey(unique string) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, SignEncrypt: true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
			CurveID: tpm2.TPMECCNistP256,
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: []byte(unique)},
		}),
	}
}

func createPrimary(t *testing.T, tpm transport.TPM, tmpl tpm2.TPMTPublic) *tpm2.CreatePrimaryResponse {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tmpl)}.Execute(tpm)
	if err != nil {
		t.Fatalf("CreatePrimary: %v", err)
	}
	return rsp
}

// nameOf computes an object's name from its public area as Part 1,
// section 16 defines it: nameAlg || SHA-256(TPMT_PUBLIC).
func nameOf(t *testing.T, pub tpm2.TPM2BPublic) []byte {
	t.Helper()
	p, err := pub.Contents()
	if err != nil {
		t.Fatalf("public area: %v", err)
	}
	sum := sha256.Sum256(tpm2.Marshal(p))
	return append(binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMAlgSHA256)), sum[:]...)
}

// signAndVerify signs with the key behind h and checks the signature with
// crypto/ecdsa against pub, so the handle is shown to reach that very key.
func signAndVerify(t *testing.T, tpm transport.TPM, h tpm2.TPMHandle, pub tpm2.TPM2BPublic, msg string) {
	t.Helper()
	digest := sha256.Sum256([]byte(msg))
	rsp, err := tpm2.Sign{
		KeyHandle:  tpm2.NamedHandle{Handle: h, Name: tpm2.TPM2BName{Buffer: nameOf(t, pub)}},
		Digest:     tpm2.TPM2BDigest{Buffer: digest[:]},
		InScheme:   tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("Sign with 0x%08x: %v", uint32(h), err)
	}
	p, err := pub.Contents()
	if err != nil {
		t.Fatal(err)
	}
	parms, err := p.Parameters.ECCDetail()
	if err != nil {
		t.Fatal(err)
	}
	point, err := p.Unique.ECC()
	if err != nil {
		t.Fatal(err)
	}
	key, err := tpm2.ECDSAPub(parms, point)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := rsp.Signature.Signature.ECDSA()
	if err != nil {
		t.Fatal(err)
	}
	r := new(big.Int).SetBytes(sig.SignatureR.Buffer)
	s := new(big.Int).SetBytes(sig.SignatureS.Buffer)
	if !ecdsa.Verify(key, digest[:], r, s) {
		t.Fatalf("signature by 0x%08x does not verify with the key's public part", uint32(h))
	}
}

// sealedObject is a keyed-hash data object template: data sealed under a
// parent, released by Unseal with the object's auth or policy.
func sealedObject(policy []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, UserWithAuth: len(policy) == 0, NoDA: true,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: policy},
	}
}

// seal creates a sealed data object under parent (in the space of tpm).
func seal(t *testing.T, tpm transport.TPM, parent *tpm2.CreatePrimaryResponse, data, auth, policy []byte) *tpm2.CreateResponse {
	t.Helper()
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.NamedHandle{Handle: parent.ObjectHandle, Name: parent.Name},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: auth},
			Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: data}),
		}},
		InPublic: tpm2.New2B(sealedObject(policy)),
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("Create (seal): %v", err)
	}
	return rsp
}

func load(t *testing.T, tpm transport.TPM, parent *tpm2.CreatePrimaryResponse, obj *tpm2.CreateResponse) *tpm2.LoadResponse {
	t.Helper()
	rsp, err := tpm2.Load{
		ParentHandle: tpm2.NamedHandle{Handle: parent.ObjectHandle, Name: parent.Name},
		InPrivate:    obj.OutPrivate,
		InPublic:     obj.OutPublic,
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rsp
}

// isVirtual: a transient handle, but not one the TPM itself hands out
// (the reference TPM numbers its few slots from 0x80000000).
func isVirtual(h tpm2.TPMHandle) bool { return uint32(h)>>24 == 0x80 && uint32(h)&0xFFFFFF >= 0x100 }

func sortedCopy(hs []uint32) []uint32 {
	c := slices.Clone(hs)
	slices.Sort(c)
	return c
}
