package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
)

// openSim starts the in-process reference TPM; it is process-global, so
// these tests do not run in parallel.
func openSim(t *testing.T) transport.TPM {
	t.Helper()
	sim, err := simulator.GetWithFixedSeedInsecure(1414)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	tpm := transport.FromReadWriteCloser(sim)
	t.Cleanup(func() { tpm.Close() })
	return tpm
}

// noHandles fails if anything is left loaded.
func noHandles(t *testing.T, tpm transport.TPM, after string) {
	t.Helper()
	for _, first := range []tpm2.TPMHandle{0x80000000, 0x02000000, 0x03000000} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(first), PropertyCount: 64}.Execute(tpm)
		if err != nil {
			t.Fatal(err)
		}
		hs, _ := rsp.CapabilityData.Data.Handles()
		for _, h := range hs.Handle {
			if h>>24 == first>>24 {
				t.Errorf("after %s: handle 0x%08x left loaded", after, h)
			}
		}
	}
}

func extend(t *testing.T, tpm transport.TPM, idx int, data string) {
	t.Helper()
	d := sha256.Sum256([]byte(data))
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(idx), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
}

// verify checks a quote the way a verifier does, from the public key
// alone: the signature over attest, the nonce and the PCR digest.
func verify(t *testing.T, pemKey []byte, q *Quote) error {
	t.Helper()
	blk, _ := pem.Decode(pemKey)
	key, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := tpm2.Unmarshal[tpm2.TPMTSignature](q.Signature)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(q.Attest)
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		s, err := sig.Signature.ECDSA()
		if err != nil {
			return err
		}
		if !ecdsa.Verify(k, digest[:], new(big.Int).SetBytes(s.SignatureR.Buffer), new(big.Int).SetBytes(s.SignatureS.Buffer)) {
			return errors.New("bad ECDSA signature")
		}
	case *rsa.PublicKey:
		s, err := sig.Signature.RSASSA()
		if err != nil {
			return err
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], s.Sig.Buffer); err != nil {
			return err
		}
	}
	ok, err := quotes(q.Attest, q.Values, q.Nonce)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("PCR digest does not match the values")
	}
	return nil
}

func TestAKQuote(t *testing.T) {
	tpm := openSim(t)
	extend(t, tpm, 16, "before")
	for _, typ := range []string{ECC, RSA} {
		k, err := CreateAK(tpm, nil, typ)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Validate(); err != nil {
			t.Fatal(err)
		}
		pub, err := k.PublicInfo()
		if err != nil {
			t.Fatal(err)
		}
		if len(pub.Name) != 68 || !bytes.HasPrefix([]byte(pub.Name), []byte("000b")) {
			t.Errorf("%s: name %q", typ, pub.Name)
		}
		sel, _ := pcrsel.Parse("sha256:0-7,16+sha1:16")
		nonce := []byte("nonce of the verifier")
		q, err := QuotePCRs(tpm, nil, k, sel, nonce)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(t, pub.PEM, q); err != nil {
			t.Errorf("%s quote: %v", typ, err)
		}
		if len(q.Values) != 10 || q.Values[0].Bank != "sha1" {
			t.Errorf("%s values %v", typ, q.Values)
		}
		// A changed value or nonce no longer verifies.
		q.Values[1].Digest = bytes.Repeat([]byte{1}, 32)
		if err := verify(t, pub.PEM, q); err == nil {
			t.Errorf("%s: a changed PCR value verified", typ)
		}
		noHandles(t, tpm, "quote")
	}
	if _, err := CreateAK(tpm, nil, "dsa"); err == nil {
		t.Error("AK of type dsa")
	}
	k, _ := CreateAK(tpm, nil, ECC)
	if _, err := QuotePCRs(tpm, nil, k, pcrsel.Selection{}, nil); !errors.Is(err, ErrNoPCRs) {
		t.Errorf("empty selection: %v", err)
	}
	if _, err := QuotePCRs(tpm, nil, k, mustSel("sha256:0"), make([]byte, MaxNonce+1)); err == nil {
		t.Error("a nonce too long")
	}
	// Another TPM's key: the simulator with other seeds.
	other := *k
	other.Private = append([]byte(nil), k.Private...)
	other.Private[len(other.Private)-1] ^= 1
	if _, err := QuotePCRs(tpm, nil, &other, mustSel("sha256:0"), nil); err == nil {
		t.Error("quote with an altered key")
	}
	noHandles(t, tpm, "failed quotes")
}

// TestQuoteRetriesMovingPCRs: a PCR extended between the read and the
// quote makes the quote start again, and the values returned are the
// quoted ones.
func TestQuoteRetriesMovingPCRs(t *testing.T) {
	tpm := openSim(t)
	k, err := CreateAK(tpm, nil, ECC)
	if err != nil {
		t.Fatal(err)
	}
	moves := 3
	mover := &interposer{TPM: tpm, before: func(cc tpm2.TPMCC) {
		if cc == tpm2.TPMCCQuote && moves > 0 {
			moves--
			extend(t, tpm, 16, "meanwhile")
		}
	}}
	pub, _ := k.PublicInfo()
	q, err := QuotePCRs(mover, nil, k, mustSel("sha256:16"), []byte{1})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, pub.PEM, q); err != nil {
		t.Error(err)
	}
	if mover.count(tpm2.TPMCCQuote) != 4 {
		t.Errorf("%d quotes for 3 moves", mover.count(tpm2.TPMCCQuote))
	}
	// PCRs that never hold still: it gives up.
	moves = 1 << 30
	if _, err := QuotePCRs(mover, nil, k, mustSel("sha256:16"), nil); !errors.Is(err, ErrPCRsMoving) {
		t.Errorf("PCRs moving all the time: %v", err)
	}
	noHandles(t, tpm, "moving quotes")
}

type interposer struct {
	transport.TPM
	before func(cc tpm2.TPMCC)
	cmds   []tpm2.TPMCC
}

func (i *interposer) Send(cmd []byte) ([]byte, error) {
	cc := tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10]))
	i.cmds = append(i.cmds, cc)
	if i.before != nil {
		i.before(cc)
	}
	return i.TPM.Send(cmd)
}

func (i *interposer) count(cc tpm2.TPMCC) int {
	n := 0
	for _, c := range i.cmds {
		if c == cc {
			n++
		}
	}
	return n
}

func mustSel(s string) pcrsel.Selection {
	sel, err := pcrsel.Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// makeCredential is what a verifier does with an EK's public key and
// an AK's name (tpm2_makecredential), in the credential file format.
func makeCredential(t *testing.T, tpm transport.TPM, p EKProfile, name, secret []byte) *Credential {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHEndorsement, InPublic: tpm2.New2B(p.Template)}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(tpm)
	pub, _ := rsp.OutPublic.Contents()
	key, err := tpm2.ImportEncapsulationKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, enc, err := tpm2.CreateCredential(rand.Reader, key, name, secret)
	if err != nil {
		t.Fatal(err)
	}
	file := binary.BigEndian.AppendUint32(nil, credMagic)
	file = binary.BigEndian.AppendUint32(file, credVersion)
	file = append(file, tpm2.Marshal(tpm2.TPM2BIDObject{Buffer: id})...)
	file = append(file, tpm2.Marshal(tpm2.TPM2BEncryptedSecret{Buffer: enc})...)
	c, complete, err := ParseCredential(file)
	if err != nil || !complete {
		t.Fatalf("parse a credential file: %v %v", complete, err)
	}
	return c
}

func TestActivate(t *testing.T) {
	tpm := openSim(t)
	k, err := CreateAK(tpm, nil, ECC)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := CreateAK(tpm, nil, RSA)
	name := func(k *Key) []byte {
		p, _ := k.PublicInfo()
		b, _ := hex.DecodeString(p.Name)
		return b
	}
	for _, p := range []EKProfile{EKProfiles[0], EKProfiles[1], mustProfile(0x01c00012), mustProfile(0x01c00016)} {
		secret := []byte("verifier's secret " + p.Name)
		c := makeCredential(t, tpm, p, name(k), secret)
		cands := Candidates(c, []EKProfile{p})
		if len(cands) == 0 || cands[0].Cert != p.Cert {
			t.Fatalf("%s: candidates %v", p.Name, cands)
		}
		got, err := Activate(tpm, nil, k, c, cands)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if !bytes.Equal(got, secret) {
			t.Errorf("%s: secret %q", p.Name, got)
		}
		// Made for another key's name: refused, whatever EK is tried.
		c = makeCredential(t, tpm, p, name(other), secret)
		if _, err := Activate(tpm, nil, k, c, Candidates(c, EKProfiles)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: credential for another name: %v", p.Name, err)
		}
		noHandles(t, tpm, "activate "+p.Name)
	}
	// An RSA-2048 credential is tried on the high range's RSA-2048 EK
	// when its certificate is there, and on the low one's after it.
	c := makeCredential(t, tpm, EKProfiles[0], name(k), []byte("s"))
	cands := Candidates(c, []EKProfile{mustProfile(0x01c00012)})
	if len(cands) != 2 || cands[0].Name != "rsa2048-h" || cands[1].Name != "rsa2048" {
		t.Errorf("candidates %v", cands)
	}
	if got, err := Activate(tpm, nil, k, c, cands); err != nil || string(got) != "s" {
		t.Errorf("second candidate: %q %v", got, err)
	}
}

func mustProfile(idx uint32) EKProfile {
	p, ok := EKProfileFor(idx)
	if !ok {
		panic(idx)
	}
	return p
}
