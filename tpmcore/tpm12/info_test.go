package tpm12

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestGetInfoOwned(t *testing.T) {
	tr := startSwtpm12(t, owned)
	info, err := GetInfo(tr)
	if err != nil {
		t.Fatal(err)
	}
	// Field-by-field agreement with tpm_version is TestTrouSerS's job;
	// here: the owner flag, and a version of the 1.2 family.
	if !info.Owned || info.Disabled || info.Deactivated || info.NumPCRs != MaxPCRs {
		t.Errorf("GetInfo = %+v, want owned, enabled, active, %d PCRs", info, MaxPCRs)
	}
	if info.ChipVersion[:4] != "1.2." {
		t.Errorf("ChipVersion %q is not of TPM 1.2", info.ChipVersion)
	}
	assertNothingLoaded(t, tr)
}

// TestLoadedHandles opens an OIAP session with a hand-built command and
// checks LoadedHandles lists it, and no longer once it is flushed.
func TestLoadedHandles(t *testing.T) {
	tr := startSwtpm12(t, owned)
	rsp, err := tr.Send([]byte{0, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x0A}) // TPM_OIAP
	if err != nil {
		t.Fatal(err)
	}
	if rc := binary.BigEndian.Uint32(rsp[6:]); rc != 0 || len(rsp) < 14 {
		t.Fatalf("TPM_OIAP: rc %#x, %d bytes", rc, len(rsp))
	}
	h := binary.BigEndian.Uint32(rsp[10:])
	got, err := LoadedHandles(tr, ResourceAuth)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, h) {
		t.Fatalf("LoadedHandles(auth) = %x, missing %x", got, h)
	}
	if keys, err := LoadedHandles(tr, ResourceKey); err != nil || len(keys) != 0 {
		t.Fatalf("LoadedHandles(key) = %x, %v, want none", keys, err)
	}
	tr.sent = nil
	if err := FlushSession(tr, h); err != nil {
		t.Fatalf("FlushSession: %v", err)
	}
	// The command as the spec has it: TPM_FlushSpecific(h, TPM_RT_AUTH).
	flush := binary.BigEndian.AppendUint16(nil, 0xC1)
	flush = binary.BigEndian.AppendUint32(flush, 18)
	flush = binary.BigEndian.AppendUint32(flush, 0xBA)
	flush = binary.BigEndian.AppendUint32(flush, h)
	flush = binary.BigEndian.AppendUint32(flush, 2)
	if !slices.Equal(tr.sent, []uint32{0xBA}) || !slices.Equal(tr.lastCmd, flush) {
		t.Fatalf("FlushSession sent %x, want %x", tr.lastCmd, flush)
	}
	if got, err = LoadedHandles(tr, ResourceAuth); err != nil || slices.Contains(got, h) {
		t.Fatalf("LoadedHandles(auth) after flush = %x, %v", got, err)
	}
	// A session that is gone: the TPM's refusal, as an RC.
	var rc RC
	if err := FlushSession(tr, h); !errors.As(err, &rc) {
		t.Fatalf("FlushSession of a flushed session = %v, want a TPM 1.2 error", err)
	}
}

func TestRCClassification(t *testing.T) {
	for _, c := range []struct {
		rc   RC
		want error
	}{
		{0x18, ErrPolicy}, {0x01, ErrAuth}, {0x1D, ErrAuth}, {0x12, ErrNotOwned},
		{0x3D, ErrLocality}, {0x02, ErrBadIndex}, {0x13, ErrWrongTPM},
		{0x803, ErrLockout}, {0x07, ErrDisabled}, {0x15, ErrResources},
	} {
		err := wrap("op", c.rc, errors.New("go-tpm's view"))
		var rc RC
		if !errors.Is(err, c.want) || !errors.As(err, &rc) || rc != c.rc {
			t.Errorf("wrap(%#x) = %v, want %v and the code", uint32(c.rc), err, c.want)
		}
	}
	var rc RC
	if err := wrap("op", 0x99, errors.New("x")); !errors.As(err, &rc) || rc != 0x99 {
		t.Errorf("wrap(0x99) = %v, want the bare code", err)
	}
	if !RC(0x800).Temporary() || RC(0x18).Temporary() {
		t.Error("Temporary: want TPM_RETRY only among these")
	}
}
