package tpmcore

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"testing"

	"tpmfs/tpmcore/pcrsel"
)

// policyPCR is the PolicyPCR digest of a fresh policy session over the
// sha256 PCRs idx (all below 24) with the given values, computed here
// from TPM 2.0 Part 3, 23.7: H(0…0 ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION
// ‖ H(values)).
func policyPCR(idx []int, values [][]byte) []byte {
	var mask [3]byte
	for _, i := range idx {
		mask[i/8] |= 1 << (i % 8)
	}
	sel := binary.BigEndian.AppendUint32(nil, 1)     // one selection
	sel = binary.BigEndian.AppendUint16(sel, 0x000B) // TPM_ALG_SHA256
	sel = append(sel, 3)
	sel = append(sel, mask[:]...)
	pcrs := sha256.New()
	for _, v := range values {
		pcrs.Write(v)
	}
	h := sha256.New()
	h.Write(make([]byte, sha256.Size))
	h.Write(binary.BigEndian.AppendUint32(nil, 0x17F)) // TPM_CC_PolicyPCR
	h.Write(sel)
	h.Write(pcrs.Sum(nil))
	return h.Sum(nil)
}

func mustSelection(t *testing.T, c *Core, s string) Selection {
	t.Helper()
	sel, err := c.ParseSelection(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// Core.Seal with a PCR selection, through the queue to package sealing
// and back: the object is bound to the selection and the PCRs' current
// values (policy computed here), Unseal opens it while they hold and
// fails with ErrPolicy naming the PCR once one moves, and Reseal moves an
// object to another selection only while its own policy holds.
func TestSealWithSelection(t *testing.T) {
	c := newSimCore(t)
	ctx := context.Background()
	bank, ok := c.Bank("sha256")
	if !ok {
		t.Fatal("no sha256 bank")
	}
	sel, err := c.ParseSelection("sha256:16,23")
	if err != nil {
		t.Fatal(err)
	}
	var values [][]byte
	for _, i := range []int{16, 23} {
		v, err := c.ReadPCR(ctx, bank, i)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, bytes.Clone(v))
	}
	// A bank the TPM lacks is refused before anything is sealed.
	for _, b := range pcrsel.Banks() {
		if _, active := c.Bank(b.Name); active {
			continue
		}
		if _, err := c.ParseSelection(b.Name + ":0"); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSelection(%s:0) on a TPM without that bank = %v, want ErrInvalid", b.Name, err)
		}
		absent, err := pcrsel.Parse(b.Name + ":0")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Seal(ctx, "absent", Bind(absent), []byte("x")); !errors.Is(err, ErrInvalid) {
			t.Errorf("Seal to %s:0 on a TPM without that bank = %v, want ErrInvalid", b.Name, err)
		}
	}

	secret := []byte("sealed to 16 and 23")
	obj, err := c.Seal(ctx, "seam", Bind(sel), secret)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if obj.Selection != "sha256:16,23" || len(obj.PCRValues) != 2 {
		t.Fatalf("sealed object bound to %q with values %+v", obj.Selection, obj.PCRValues)
	}
	if want := policyPCR([]int{16, 23}, values); !bytes.Equal(obj.Policy, want) {
		t.Errorf("policy %x, want %x", obj.Policy, want)
	}
	if got, err := c.Unseal(ctx, "seam", obj, nil); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal while the PCRs hold = %q, %v", got, err)
	}

	// A second object, sealed to PCR 23 only, moved to 16 and 23 while
	// 23 holds.
	other, err := c.Seal(ctx, "other", Bind(mustSelection(t, c, "sha256:23")), []byte("other"))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := c.Reseal(ctx, "other", other, nil, Bind(sel))
	if err != nil || moved.Selection != "sha256:16,23" {
		t.Fatalf("Reseal to %s = %+v, %v", sel, moved, err)
	}

	if err := c.Extend(ctx, bank, 16, make([]byte, bank.Size)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Unseal(ctx, "seam", obj, nil)
	var pe *PolicyError
	if !errors.Is(err, ErrPolicy) || !errors.As(err, &pe) || len(pe.Differ) != 1 || pe.Differ[0].String() != "sha256:16" {
		t.Fatalf("Unseal after PCR 16 moved = %v, want ErrPolicy naming sha256:16", err)
	}
	if _, err := c.Reseal(ctx, "seam", obj, nil, Bind(mustSelection(t, c, "sha256:23"))); !errors.Is(err, ErrPolicy) {
		t.Errorf("Reseal with the old policy broken = %v, want ErrPolicy", err)
	}
	if _, err := c.Unseal(ctx, "other", moved, nil); !errors.Is(err, ErrPolicy) {
		t.Errorf("Unseal of the resealed object after PCR 16 moved = %v, want ErrPolicy", err)
	}
	// The object sealed to 23 alone still opens: the reseal made a new
	// object and left the old one valid.
	if got, err := c.Unseal(ctx, "other", other, nil); err != nil || string(got) != "other" {
		t.Errorf("Unseal of the object before its reseal = %q, %v", got, err)
	}
	// Under another name the envelope does not open.
	if _, err := c.Unseal(ctx, "renamed", other, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Unseal under another name = %v, want ErrCorrupt", err)
	}
}

// ParseSpec and ParseAuthKey check input for this TPM: banks it has,
// values of the bank's size, one RSA-2048 or P-256 PEM key.
func TestParseSpecAuthKey(t *testing.T) {
	c := newSimCore(t)
	h := bytes.Repeat([]byte{0xab}, 32)
	spec, err := c.ParseSpec(fmt.Sprintf("sha256:0,16=%X\n", h))
	if err != nil || spec.String() != fmt.Sprintf("sha256:0,16=%x", h) {
		t.Errorf("ParseSpec = %q, %v", spec, err)
	}
	for _, bad := range []string{"sha256:16=abcd", "sm3_256:1=" + fmt.Sprintf("%x", h), "sha256:24"} {
		if _, err := c.ParseSpec(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSpec(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	text := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if k, err := c.ParseAuthKey(text); err != nil || !bytes.Equal(k.DER, der) {
		t.Errorf("ParseAuthKey = %v, %v", k, err)
	}
	if _, err := c.ParseAuthKey(append(text, "more\n"...)); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseAuthKey with a second line: %v, want ErrInvalid", err)
	}
}
