package tpm12

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"testing"
)

// extendSHA1 is TPM 1.2's extend rule, computed here independently.
func extendSHA1(old [20]byte, d [20]byte) [20]byte {
	return sha1.Sum(append(old[:], d[:]...))
}

// rawHandles lists handles of type rt with a TPM_GetCapability built and
// parsed here, independently of the code under test.
func rawHandles(t *testing.T, tr *tcpTPM, rt uint32) []uint32 {
	t.Helper()
	cmd := binary.BigEndian.AppendUint16(nil, 0x00C1)
	cmd = binary.BigEndian.AppendUint32(cmd, 22)
	cmd = binary.BigEndian.AppendUint32(cmd, 0x65) // TPM_ORD_GetCapability
	cmd = binary.BigEndian.AppendUint32(cmd, 0x14) // TPM_CAP_HANDLE
	cmd = binary.BigEndian.AppendUint32(cmd, 4)
	cmd = binary.BigEndian.AppendUint32(cmd, rt)
	rsp, err := tr.Send(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if rc := binary.BigEndian.Uint32(rsp[6:]); rc != 0 {
		t.Fatalf("GetCapability(TPM_CAP_HANDLE, %d): rc %#x", rt, rc)
	}
	// respSize(4) then TPM_KEY_HANDLE_LIST: loaded(2), handles(4 each).
	n := int(binary.BigEndian.Uint16(rsp[14:]))
	var hs []uint32
	for i := range n {
		hs = append(hs, binary.BigEndian.Uint32(rsp[16+4*i:]))
	}
	return hs
}

// assertNothingLoaded fails if any key or auth session is loaded.
func assertNothingLoaded(t *testing.T, tr *tcpTPM) {
	t.Helper()
	if hs := rawHandles(t, tr, 1); len(hs) != 0 {
		t.Errorf("keys left loaded: %x", hs)
	}
	if hs := rawHandles(t, tr, 2); len(hs) != 0 {
		t.Errorf("auth sessions left open: %x", hs)
	}
}

func TestPCRReadExtendMeasure(t *testing.T) {
	tr := startSwtpm12(t, owned)

	n, err := NumPCRs(tr)
	if err != nil {
		t.Fatal(err)
	}
	if n != MaxPCRs {
		t.Fatalf("NumPCRs = %d, want %d (PC client)", n, MaxPCRs)
	}
	// PCR 16 is reset to zeros by TPM_Startup(ST_CLEAR).
	v, err := ReadPCR(tr, 16)
	if err != nil {
		t.Fatal(err)
	}
	if v != ([20]byte{}) {
		t.Fatalf("PCR 16 after startup = %x, want zeros", v)
	}
	want := v
	d := sha1.Sum([]byte("first"))
	want = extendSHA1(want, d)
	got, err := Extend(tr, 16, d)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Extend returned %x, want %x", got, want)
	}
	event := []byte("an event\n")
	want = extendSHA1(want, sha1.Sum(event))
	if got, err = Measure(tr, 16, event); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Measure returned %x, want %x", got, want)
	}
	if v, err = ReadPCR(tr, 16); err != nil {
		t.Fatal(err)
	}
	if v != want {
		t.Fatalf("PCR 16 = %x, want %x", v, want)
	}
	if _, err := ReadPCR(tr, MaxPCRs); !errors.Is(err, ErrBadIndex) {
		t.Fatalf("ReadPCR(%d) = %v, want ErrBadIndex", MaxPCRs, err)
	}
	if _, err := Extend(tr, -1, d); !errors.Is(err, ErrBadIndex) {
		t.Fatalf("Extend(-1) = %v, want ErrBadIndex", err)
	}
	assertNothingLoaded(t, tr)
}

// TestCanExtendMatchesTPM checks the static locality-0 table against what
// the TPM does for every PCR.
func TestCanExtendMatchesTPM(t *testing.T) {
	tr := startSwtpm12(t, owned)
	d := sha1.Sum([]byte("x"))
	for i := range MaxPCRs {
		old, err := ReadPCR(tr, i)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Extend(tr, i, d)
		switch {
		case CanExtend(i) && err != nil:
			t.Errorf("PCR %d: CanExtend true, Extend: %v", i, err)
		case CanExtend(i) && got != extendSHA1(old, d):
			t.Errorf("PCR %d: extended to %x, want %x", i, got, extendSHA1(old, d))
		case !CanExtend(i) && !errors.Is(err, ErrLocality):
			t.Errorf("PCR %d: CanExtend false, Extend: %v, want ErrLocality", i, err)
		}
		if !CanExtend(i) {
			var rc RC
			if !errors.As(err, &rc) || rc != rcBadLocality {
				t.Errorf("PCR %d: error %v carries no TPM_BAD_LOCALITY", i, err)
			}
			if now, _ := ReadPCR(tr, i); now != old {
				t.Errorf("PCR %d changed by a refused extend", i)
			}
		}
	}
}

func TestPCRComposite(t *testing.T) {
	a, b := sha1.Sum([]byte("a")), sha1.Sum([]byte("b"))
	// TPM_PCR_COMPOSITE for PCRs 1 and 17, written out by hand.
	var want bytes.Buffer
	want.Write([]byte{0, 3, 0x02, 0x00, 0x02, 0, 0, 0, 40})
	want.Write(a[:])
	want.Write(b[:])
	wantD := sha1.Sum(want.Bytes())
	got, err := PCRComposite([]PCRValue{{17, b}, {1, a}})
	if err != nil {
		t.Fatal(err)
	}
	if got != wantD {
		t.Fatalf("PCRComposite = %x, want %x", got, wantD)
	}
	empty := sha1.Sum([]byte{0, 3, 0, 0, 0, 0, 0, 0, 0})
	if got, _ := PCRComposite(nil); got != empty {
		t.Fatalf("PCRComposite(nil) = %x, want %x", got, empty)
	}
	for _, bad := range [][]PCRValue{{{24, a}}, {{-1, a}}, {{3, a}, {3, b}}} {
		if _, err := PCRComposite(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("PCRComposite(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}
