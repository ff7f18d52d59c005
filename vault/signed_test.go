package vault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"testing"

	"tpmfs/internal/faketpm"
	"tpmfs/tpmcore"
)

// testKey returns a PEM authkey and a pcrsig of one (unchecked by any
// TPM) sha256 policy signed by it.
func testKey(t *testing.T) (pemText, sig string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	pol := make([]byte, 32)
	d := sha256.Sum256(pol)
	s, err := ecdsa.SignASN1(rand.Reader, priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	point, _ := priv.PublicKey.ECDH()
	fp := sha256.Sum256(point.Bytes()) // systemd's pkfp: i2d_PublicKey's uncompressed point
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		fmt.Sprintf(`{"sha256":[{"pcrs":[11],"pkfp":"%x","pol":"%x","sig":"%s"}]}`+"\n", fp, pol, base64.StdEncoding.EncodeToString(s))
}

// TestAuthKeyLifecycle: before the first seal authkey may change or be
// emptied, which drops the signatures of the old key; pcrsig empties;
// after the seal authkey stays (ErrFixed), and the same key again is no
// change.
func TestAuthKeyLifecycle(t *testing.T) {
	v, _, store := newVault(t, Options{})
	info := mustCreate(t, v, alice, "k")
	key1, sig1 := testKey(t)
	key2, _ := testKey(t)
	if err := write(t, v, alice, info.Ref, PCRSig, sig1); !errors.Is(err, tpmcore.ErrInvalid) {
		t.Errorf("pcrsig before authkey: %v, want ErrInvalid", err)
	}
	mustWrite := func(p Part, s string) {
		t.Helper()
		if err := write(t, v, alice, info.Ref, p, s); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
	}
	mustWrite(AuthKey, key1)
	mustWrite(PCRSig, sig1)
	if got := mustRead(t, v, alice, info.Ref, PCRSig); got != sig1 {
		t.Errorf("pcrsig = %q", got)
	}
	mustWrite(PCRSig, "")
	if got := mustRead(t, v, alice, info.Ref, PCRSig); got != "" {
		t.Errorf("pcrsig after emptying = %q", got)
	}
	mustWrite(PCRSig, sig1)
	// Another key before the seal: its signatures go.
	mustWrite(AuthKey, key2)
	if got := mustRead(t, v, alice, info.Ref, PCRSig); got != "" {
		t.Errorf("pcrsig of the old key kept: %q", got)
	}
	mustWrite(AuthKey, "")
	if got := mustRead(t, v, alice, info.Ref, AuthKey); got != "" {
		t.Errorf("authkey after emptying = %q", got)
	}
	mustWrite(AuthKey, key1)
	mustWrite(PCRSig, sig1)
	mustWrite(Data, "secret")
	rec, err := store.Load("k")
	if err != nil || rec.Sealed == nil || string(rec.Sealed.AuthKey) != string(rec.AuthKey) {
		t.Fatalf("sealed record: %+v, %v", rec, err)
	}
	for _, k := range []string{key2, ""} {
		if err := write(t, v, alice, info.Ref, AuthKey, k); !errors.Is(err, ErrFixed) {
			t.Errorf("authkey %q after the seal: %v, want ErrFixed", k[:min(len(k), 10)], err)
		}
	}
	mustWrite(AuthKey, key1)
	if got := mustRead(t, v, alice, info.Ref, AuthKey); got != key1 {
		t.Errorf("authkey = %q", got)
	}
	for _, p := range []Part{Policy, Status} {
		if _, err := v.OpenWrite(ctx, alice, info.Ref, p); !errors.Is(err, ErrNotWritable) {
			t.Errorf("OpenWrite(%s): %v, want ErrNotWritable", p, err)
		}
	}
}

// TestSignedOnTPM12: authkey and pcrsig are refused at open where the
// TPM has no signed policies.
func TestSignedOnTPM12(t *testing.T) {
	v, err := New(openTestStore(t), faketpm.New12(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	info := mustCreate(t, v, alice, "k")
	for _, p := range []Part{AuthKey, PCRSig} {
		if _, err := v.OpenWrite(ctx, alice, info.Ref, p); !errors.Is(err, tpmcore.ErrUnsupported) {
			t.Errorf("OpenWrite(%s) on a TPM 1.2: %v, want ErrUnsupported", p, err)
		}
	}
}
