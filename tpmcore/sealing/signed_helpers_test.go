package sealing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
)

// signer is an authkey and its private half. Policies are signed the way
// systemd-measure signs them: over the bank's hash of the policy digest,
// PKCS#1 v1.5 for RSA, ECDSA with a DER (r, s).
type signer struct {
	priv crypto.Signer
	key  *pcrsig.Key
}

var (
	signersMu sync.Mutex
	signers   = map[string]*signer{}
)

// testSigner returns the test binary's key of that name ("rsa", "rsa2",
// "ecc"), made once: RSA key generation is slow.
func testSigner(t testing.TB, name string) *signer {
	t.Helper()
	signersMu.Lock()
	defer signersMu.Unlock()
	if s := signers[name]; s != nil {
		return s
	}
	var priv crypto.Signer
	var err error
	if strings.HasPrefix(name, "rsa") {
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	key, err := pcrsig.KeyFromDER(der)
	if err != nil {
		t.Fatal(err)
	}
	signers[name] = &signer{priv: priv, key: key}
	return signers[name]
}

// entry is one signed policy in systemd's JSON: pol for the PCRs of sel
// (one bank), signed with that bank's hash.
func (s *signer) entry(t testing.TB, sel pcrsel.Selection, pol []byte) string {
	t.Helper()
	b := sel.Banks()[0]
	h := b.Hash.New()
	h.Write(pol)
	sig, err := s.priv.Sign(rand.Reader, h.Sum(nil), b.Hash)
	if err != nil {
		t.Fatal(err)
	}
	idx := fmt.Sprint(sel.Indices(b))
	idx = strings.ReplaceAll(strings.Trim(idx, "[]"), " ", ",")
	return fmt.Sprintf(`{"pcrs":[%s],"pkfp":"%x","pol":"%x","sig":"%s"}`,
		idx, s.key.Fingerprint(), pol, base64.StdEncoding.EncodeToString(sig))
}

// set parses a pcrsig of the given bank arrays ("sha256": entries...)
// and checks it against s's key, as the vault does when it is written.
func (s *signer) set(t testing.TB, banks map[string][]string) *pcrsig.Set {
	t.Helper()
	var parts []string
	for b, es := range banks {
		parts = append(parts, fmt.Sprintf("%q:[%s]", b, strings.Join(es, ",")))
	}
	set, err := pcrsig.Parse([]byte("{" + strings.Join(parts, ",") + "}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Verify(s.key); err != nil {
		t.Fatal(err)
	}
	return set
}

// trialPolicyPCR is what systemd-measure sign asks the TPM for: the
// digest of a trial session after PolicyPCR over sel holding values.
func trialPolicyPCR(t *testing.T, tpm transport.TPM, sel pcrsel.Selection, values ...[]byte) []byte {
	t.Helper()
	h := sha256.New()
	for _, v := range values {
		h.Write(v)
	}
	return trial(t, tpm, func(sess tpm2.TPMISHPolicy) error {
		_, err := tpm2.PolicyPCR{PolicySession: sess, PcrDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)}, Pcrs: sel.TPML()}.Execute(tpm)
		return err
	})
}

// trial runs steps in a trial session and returns its digest.
func trial(t *testing.T, tpm transport.TPM, steps ...func(sess tpm2.TPMISHPolicy) error) []byte {
	t.Helper()
	sess, closeSess, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, 16, tpm2.Trial())
	if err != nil {
		t.Fatal(err)
	}
	defer closeSess()
	for _, step := range steps {
		if err := step(sess.Handle()); err != nil {
			t.Fatal(err)
		}
	}
	rsp, err := tpm2.PolicyGetDigest{PolicySession: sess.Handle()}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	return rsp.PolicyDigest.Buffer
}

// trialAuthorized is the policy of a key sealed with authkey k and,
// after it, PolicyPCR over sel holding values, as the TPM computes it:
// the key's name comes from LoadExternal of its public area.
func trialAuthorized(t *testing.T, tpm transport.TPM, k *pcrsig.Key, sel pcrsel.Selection, values ...[]byte) []byte {
	t.Helper()
	pub, err := keyPublic(k)
	if err != nil {
		t.Fatal(err)
	}
	rsp, err := tpm2.LoadExternal{InPublic: tpm2.New2B(pub), Hierarchy: tpm2.TPMRHOwner}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(tpm)
	steps := []func(tpm2.TPMISHPolicy) error{func(sess tpm2.TPMISHPolicy) error {
		_, err := tpm2.PolicyAuthorize{
			PolicySession: sess, ApprovedPolicy: tpm2.TPM2BDigest{Buffer: make([]byte, 32)}, KeySign: rsp.Name,
			CheckTicket: tpm2.TPMTTKVerified{Tag: tpm2.TPMSTVerified, Hierarchy: tpm2.TPMRHNull},
		}.Execute(tpm)
		return err
	}}
	if !sel.IsEmpty() {
		h := sha256.New()
		for _, v := range values {
			h.Write(v)
		}
		steps = append(steps, func(sess tpm2.TPMISHPolicy) error {
			_, err := tpm2.PolicyPCR{PolicySession: sess, PcrDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)}, Pcrs: sel.TPML()}.Execute(tpm)
			return err
		})
	}
	return trial(t, tpm, steps...)
}

// extendSHA256 is H(old || H(data)), computed here.
func extendSHA256(old []byte, data string) []byte {
	d := sha256.Sum256([]byte(data))
	v := sha256.Sum256(append(append([]byte(nil), old...), d[:]...))
	return v[:]
}

func mustSpec(t *testing.T, s string) pcrsel.Spec {
	t.Helper()
	spec, err := pcrsel.ParseSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
