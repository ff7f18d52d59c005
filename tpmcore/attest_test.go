package tpmcore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tpmcore/pcrsel"
)

// TestAttestationSwtpm: on a TPM 2.0 with EK certificates, the Core
// finds them at start, reads them and quotes, and its NV operations map
// the TPM's answers to the sentinels fs turns into errno.
func TestAttestationSwtpm(t *testing.T) {
	sw := swtpmtest.StartEK(t)
	c, _ := newCore12(t, sw.Port, nil)
	ctx := context.Background()
	if err := c.Attestation(); err != nil {
		t.Fatalf("Attestation on a TPM 2.0: %v", err)
	}
	certs := c.EKCerts()
	if len(certs) != 2 || certs[0].Name != "rsa2048" || certs[1].Index != 0x01c00016 {
		t.Fatalf("EK certificates %+v", certs)
	}
	if !strings.Contains(c.Info().String(), "ek_certs: 0x01c00002 0x01c00016\n") {
		t.Errorf("info:\n%s", c.Info())
	}
	for _, e := range certs {
		der, err := c.EKCertificate(ctx, e.Index)
		if err != nil || len(der) != e.Size || der[0] != 0x30 {
			t.Errorf("certificate %s: %d bytes (%v), want %d of DER", e.Name, len(der), err, e.Size)
		}
	}
	if _, err := c.EKCertificate(ctx, 0x01c0000a); !errors.Is(err, ErrNotFound) {
		t.Errorf("a certificate the TPM does not have: %v", err)
	}
	ak, err := c.CreateAK(ctx, AKECC)
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := pcrsel.Parse("sha256:0-3")
	if q, err := c.Quote(ctx, ak, sel, []byte{1, 2}); err != nil || len(q.Values) != 4 {
		t.Errorf("quote: %v", err)
	}
	sel384, _ := pcrsel.Parse("sha384:0")
	if _, err := c.Quote(ctx, ak, sel384, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("quote of an inactive bank: %v", err)
	}
	if _, err := c.ActivateCredential(ctx, ak, []byte{0xba, 0xdc}); !errors.Is(err, ErrInvalid) {
		t.Errorf("activate with a truncated credential: %v", err)
	}
	if _, err := c.CreateAK(ctx, "dsa"); !errors.Is(err, ErrInvalid) {
		t.Errorf("AK of type dsa: %v", err)
	}

	const idx = 0x01500020
	if _, err := c.NVPublic(ctx, idx); !errors.Is(err, ErrNotFound) {
		t.Errorf("public of an undefined index: %v", err)
	}
	if err := c.NVDefine(ctx, idx, 2048); err != nil {
		t.Fatal(err)
	}
	if err := c.NVDefine(ctx, idx, 8); !errors.Is(err, ErrExists) {
		t.Errorf("define twice: %v", err)
	}
	if err := c.NVDefine(ctx, idx+1, 1<<15); !errors.Is(err, ErrTooLarge) {
		t.Errorf("define larger than the TPM allows: %v", err)
	}
	pub, _ := c.NVPublic(ctx, idx)
	if _, err := c.NVRead(ctx, pub, true); !errors.Is(err, ErrNoData) {
		t.Errorf("read before any write: %v", err)
	}
	data := bytes.Repeat([]byte("0123456789"), 200)
	if err := c.NVWrite(ctx, pub, false, 48, data); err != nil {
		t.Fatal(err)
	}
	got, err := c.NVRead(ctx, pub, false)
	if err != nil || !bytes.Equal(got[48:2048], data) {
		t.Errorf("read back: %v", err)
	}
	if err := c.NVWrite(ctx, pub, false, 2047, []byte("xy")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("write past the end: %v", err)
	}
	if err := c.NVIncrement(ctx, pub, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("increment of an ordinary index: %v", err)
	}
	ekPub, _ := c.NVPublic(ctx, 0x01c00002)
	if err := c.NVUndefine(ctx, ekPub); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("undefine the platform's EK certificate: %v", err)
	}
	if err := c.NVWrite(ctx, ekPub, true, 0, []byte{0}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("write the EK certificate: %v", err)
	}
	if err := c.NVUndefine(ctx, pub); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NVRead(ctx, pub, true); !errors.Is(err, ErrStale) {
		t.Errorf("read after undefine: %v", err)
	}
	c.NVDefine(ctx, idx, 16)
	if err := c.NVWrite(ctx, pub, true, 0, []byte("x")); !errors.Is(err, ErrStale) {
		t.Errorf("write to a redefined index through the old public: %v", err)
	}

	// An index with a password, without noDA: tpmfs asks the TPM once.
	cl, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpm2.NVDefineSpace{
		AuthHandle: tpm2.TPMRHOwner,
		Auth:       tpm2.TPM2BAuth{Buffer: []byte("password")},
		PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{NVIndex: 0x01500030, NameAlg: tpm2.TPMAlgSHA256,
			Attributes: tpm2.TPMANV{AuthRead: true, AuthWrite: true}, DataSize: 4}),
	}.Execute(clientTPM{cl})
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := c.NVPublic(ctx, 0x01500030)
	err1 := c.NVWrite(ctx, pw, false, 0, []byte("abcd"))
	err2 := c.NVWrite(ctx, pw, false, 0, []byte("abcd"))
	if !errors.Is(err1, ErrAuth) || !errors.Is(err2, ErrAuth) || !strings.Contains(err2.Error(), "not asked again") {
		t.Errorf("writes with a wrong (empty) auth value: %v; %v", err1, err2)
	}
	if _, ok := RC(err2); ok {
		t.Errorf("the second refusal reached the TPM: %v", err2)
	}
}

// TestAttestation12: a TPM 1.2 answers every attestation and NV
// operation with "not on TPM 1.2", and info names no EK certificates.
func TestAttestation12(t *testing.T) {
	c, _ := newCore12(t, swtpmtest.Start12(t, true).Port, nil)
	ctx := context.Background()
	for what, err := range map[string]error{
		"Attestation": c.Attestation(),
		"NVDefine":    c.NVDefine(ctx, 0x01500020, 8),
		"CreateAK":    func() error { _, err := c.CreateAK(ctx, AKECC); return err }(),
		"NVList":      func() error { _, err := c.NVList(ctx); return err }(),
	} {
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "not on TPM 1.2") {
			t.Errorf("%s on a TPM 1.2: %v", what, err)
		}
	}
	if len(c.EKCerts()) != 0 || strings.Contains(c.Info().String(), "ek_certs") {
		t.Errorf("TPM 1.2 info:\n%s", c.Info())
	}
}
