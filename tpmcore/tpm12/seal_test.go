package tpm12

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-tpm/tpm"
)

// compositeSHA1 computes TPM_PCR_COMPOSITE's digest here, independently
// of PCRComposite: sizeOfSelect 3, the mask, the values' size, the values
// in index order.
func compositeSHA1(vals map[int][20]byte) [20]byte {
	b := []byte{0, 3, 0, 0, 0}
	var idx []int
	for i := range vals {
		b[2+i/8] |= 1 << (i % 8)
		idx = append(idx, i)
	}
	slices.Sort(idx)
	b = binary.BigEndian.AppendUint32(b, uint32(20*len(idx)))
	for _, i := range idx {
		v := vals[i]
		b = append(b, v[:]...)
	}
	return sha1.Sum(b)
}

// srkAuth is the SRK secret of the owned template. swtpm_setup's
// --srk-well-known hashes its 20 zero bytes like a password, so this is
// SHA-1(20 zero bytes), not TrouSerS' well-known secret (the zeros
// themselves); TestTrouSerS covers that one.
var srkAuth = AuthFromPassword(make([]byte, 20))

func TestSealUnsealPCR(t *testing.T) {
	tr := startSwtpm12(t, owned)
	key := bytes.Repeat([]byte{0xA5}, 32)

	// Known state: PCR 0 and 16 are zero after startup; extend 16 once.
	d := sha1.Sum([]byte("boot"))
	if _, err := Extend(tr, 16, d); err != nil {
		t.Fatal(err)
	}
	want := map[int][20]byte{0: {}, 16: extendSHA1([20]byte{}, d)}
	wantDigest := compositeSHA1(want)

	tr.sent = nil
	s, err := SealKey(tr, srkAuth, []int{16, 0, 16}, key)
	if err != nil {
		t.Fatal(err)
	}
	// PCRRead x2, OSAP, Seal, FlushSpecific.
	if want := []uint32{0x15, 0x15, 0x0B, 0x17, 0xBA}; !slices.Equal(tr.sent, want) {
		t.Errorf("SealKey sent ordinals %x, want %x", tr.sent, want)
	}
	assertNothingLoaded(t, tr)
	if s.Digest != wantDigest {
		t.Fatalf("Sealed.Digest = %x, want %x", s.Digest, wantDigest)
	}
	if len(s.Values) != 2 || s.Values[0] != (PCRValue{0, want[0]}) || s.Values[1] != (PCRValue{16, want[16]}) {
		t.Fatalf("Sealed.Values = %x, want PCR 0 %x, PCR 16 %x", s.Values, want[0], want[16])
	}
	// The TPM wrote that digest into the blob as digestAtRelease.
	if !bytes.Contains(s.Blob, wantDigest[:]) {
		t.Fatalf("blob does not contain digest %x", wantDigest)
	}
	info, err := SealedTo(s.Blob)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.PCRs, []int{0, 16}) || info.Digest != wantDigest || info.LocalityAtRelease != 0x1F {
		t.Fatalf("SealedTo = %+v, want PCRs [0 16], digest %x, localities 0x1f", info, wantDigest)
	}

	tr.sent = nil
	got, err := UnsealKey(tr, srkAuth, s.Blob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, key) {
		t.Fatalf("unsealed %x, want %x", got, key)
	}
	// OSAP, OIAP, Unseal, FlushSpecific x2.
	if want := []uint32{0x0B, 0x0A, 0x18, 0xBA, 0xBA}; !slices.Equal(tr.sent, want) {
		t.Errorf("UnsealKey sent ordinals %x, want %x", tr.sent, want)
	}
	assertNothingLoaded(t, tr)

	// PCR 16 moves: the TPM refuses with TPM_WRONGPCRVAL.
	if _, err := Extend(tr, 16, d); err != nil {
		t.Fatal(err)
	}
	_, err = UnsealKey(tr, srkAuth, s.Blob)
	var rc RC
	if !errors.Is(err, ErrPolicy) || !errors.As(err, &rc) || rc != rcWrongPCRVal {
		t.Fatalf("unseal after extend: %v, want ErrPolicy with TPM_WRONGPCRVAL", err)
	}
	assertNothingLoaded(t, tr)

	// Back to the sealed-to value (reset, replay): it opens again.
	if err := tpm.PcrReset(newConn(tr), []int{16}); err != nil {
		t.Fatal(err)
	}
	if _, err := Extend(tr, 16, d); err != nil {
		t.Fatal(err)
	}
	if got, err = UnsealKey(tr, srkAuth, s.Blob); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unseal after replay: %x, %v", got, err)
	}
	assertNothingLoaded(t, tr)
}

// TestSealKeyTo seals to values computed here that the PCRs do not have
// yet (PCR 16 after two extends, PCR 23 after one, PCR 0 as it is): the
// TPM refuses the blob until the PCRs get there, then opens it.
func TestSealKeyTo(t *testing.T) {
	tr := startSwtpm12(t, owned)
	key := bytes.Repeat([]byte{0x5A}, 32)
	d1, d2 := sha1.Sum([]byte("kernel")), sha1.Sum([]byte("initrd"))
	want := map[int][20]byte{0: {}, 16: extendSHA1(extendSHA1([20]byte{}, d1), d2), 23: extendSHA1([20]byte{}, d1)}
	vals := []PCRValue{{23, want[23]}, {16, want[16]}, {0, want[0]}}

	tr.sent = nil
	s, err := SealKeyTo(tr, srkAuth, vals, key)
	if err != nil {
		t.Fatal(err)
	}
	// No PCR read: OSAP, Seal, FlushSpecific.
	if want := []uint32{0x0B, 0x17, 0xBA}; !slices.Equal(tr.sent, want) {
		t.Errorf("SealKeyTo sent ordinals %x, want %x", tr.sent, want)
	}
	assertNothingLoaded(t, tr)
	wantDigest := compositeSHA1(want)
	info, err := SealedTo(s.Blob)
	if err != nil || !slices.Equal(info.PCRs, []int{0, 16, 23}) || info.Digest != wantDigest || s.Digest != wantDigest {
		t.Fatalf("SealedTo = %+v, %v; want PCRs [0 16 23] digest %x", info, err, wantDigest)
	}
	if len(s.Values) != 3 || s.Values[0].Index != 0 || s.Values[2].Index != 23 {
		t.Errorf("Values not in index order: %v", s.Values)
	}
	steps := []struct {
		pcr int
		d   [20]byte
	}{{16, d1}, {16, d2}, {23, d1}}
	for i, st := range steps {
		if _, err := UnsealKey(tr, srkAuth, s.Blob); !errors.Is(err, ErrPolicy) {
			t.Fatalf("unseal after %d of 3 extends: %v, want ErrPolicy", i, err)
		}
		if _, err := Extend(tr, st.pcr, st.d); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := UnsealKey(tr, srkAuth, s.Blob); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unseal at the predicted values: %x, %v", got, err)
	}
	assertNothingLoaded(t, tr)

	// A wrong SRK secret is refused by the TPM, and classified.
	if _, err := SealKeyTo(tr, WellKnownAuth, vals, key); !errors.Is(err, ErrAuth) {
		t.Errorf("SealKeyTo with a wrong SRK secret: %v, want ErrAuth", err)
	}
	assertNothingLoaded(t, tr)
	for _, bad := range [][]PCRValue{{{16, want[16]}, {16, want[0]}}, {{24, want[0]}}} {
		if _, err := SealKeyTo(tr, srkAuth, bad, key); !errors.Is(err, ErrInvalid) {
			t.Errorf("SealKeyTo(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSealNoPCRs(t *testing.T) {
	tr := startSwtpm12(t, owned)
	key := []byte("k")
	s, err := SealKey(tr, srkAuth, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Values) != 0 || s.Digest != compositeSHA1(nil) {
		t.Fatalf("Sealed = %+v, want no values and the empty composite", s)
	}
	if _, err := Measure(tr, 0, []byte("anything")); err != nil {
		t.Fatal(err)
	}
	got, err := UnsealKey(tr, srkAuth, s.Blob)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unseal: %x, %v", got, err)
	}
	assertNothingLoaded(t, tr)

	for _, bad := range [][]byte{nil, make([]byte, MaxKeySize+1)} {
		if _, err := SealKey(tr, srkAuth, nil, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SealKey(%d bytes) = %v, want ErrInvalid", len(bad), err)
		}
	}
	if _, err := SealKey(tr, srkAuth, []int{24}, key); !errors.Is(err, ErrBadIndex) {
		t.Errorf("SealKey(PCR 24) = %v, want ErrBadIndex", err)
	}
	if _, err := SealKey(tr, srkAuth, nil, make([]byte, MaxKeySize)); err != nil {
		t.Errorf("SealKey(%d bytes) = %v", MaxKeySize, err)
	}
	assertNothingLoaded(t, tr)
}

func TestSealWrongAuth(t *testing.T) {
	tr := startSwtpm12(t, owned)
	wrong := WellKnownAuth
	if _, err := SealKey(tr, wrong, []int{16}, []byte("key")); !errors.Is(err, ErrAuth) {
		t.Fatalf("SealKey with wrong secret = %v, want ErrAuth", err)
	}
	assertNothingLoaded(t, tr)
	s, err := SealKey(tr, srkAuth, []int{16}, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnsealKey(tr, wrong, s.Blob); !errors.Is(err, ErrAuth) {
		t.Fatalf("UnsealKey with wrong secret = %v, want ErrAuth", err)
	}
	assertNothingLoaded(t, tr)
}

func TestUnsealForeignOrCorrupt(t *testing.T) {
	tr := startSwtpm12(t, owned)
	s, err := SealKey(tr, srkAuth, []int{16}, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	// Altered ciphertext: the SRK's OAEP decryption fails, as for a blob
	// of another TPM.
	alt := bytes.Clone(s.Blob)
	alt[len(alt)-10] ^= 1
	_, err = UnsealKey(tr, srkAuth, alt)
	if !errors.Is(err, ErrWrongTPM) {
		t.Fatalf("UnsealKey(altered) = %v, want ErrWrongTPM", err)
	}
	t.Logf("UnsealKey(altered): %v", err)
	assertNothingLoaded(t, tr)
	for _, bad := range [][]byte{nil, s.Blob[:len(s.Blob)-1], append(bytes.Clone(s.Blob), 0)} {
		if _, err := UnsealKey(tr, srkAuth, bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("UnsealKey(%d bytes) = %v, want ErrCorrupt", len(bad), err)
		}
	}
}

func TestNotOwned(t *testing.T) {
	trOwned := startSwtpm12(t, owned)
	s, err := SealKey(trOwned, srkAuth, nil, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	tr := startSwtpm12(t, unowned)
	_, err = SealKey(tr, srkAuth, []int{16}, []byte("key"))
	if !errors.Is(err, ErrNotOwned) {
		t.Fatalf("SealKey on unowned TPM = %v, want ErrNotOwned", err)
	}
	t.Logf("SealKey on unowned TPM: %v", err)
	assertNothingLoaded(t, tr)
	if _, err = UnsealKey(tr, srkAuth, s.Blob); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("UnsealKey on unowned TPM = %v, want ErrNotOwned", err)
	}
	assertNothingLoaded(t, tr)
}
