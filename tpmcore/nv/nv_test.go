package nv

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// openSim starts the in-process reference TPM; it is process-global, so
// these tests do not run in parallel.
func openSim(t *testing.T) transport.TPM {
	t.Helper()
	sim, err := simulator.GetWithFixedSeedInsecure(14)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	tpm := transport.FromReadWriteCloser(sim)
	t.Cleanup(func() { tpm.Close() })
	return tpm
}

// define makes an index of any type with owner auth, for the tests.
func define(t *testing.T, tpm transport.TPM, index uint32, attrs tpm2.TPMANV, size int, auth []byte) Public {
	t.Helper()
	_, err := tpm2.NVDefineSpace{
		AuthHandle: tpm2.TPMRHOwner,
		Auth:       tpm2.TPM2BAuth{Buffer: auth},
		PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{
			NVIndex: tpm2.TPMHandle(index), NameAlg: tpm2.TPMAlgSHA256, Attributes: attrs, DataSize: uint16(size),
		}),
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadPublic(tpm, index)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const chunk = 1024 // the reference TPM's MAX_NV_BUFFER_SIZE

func TestOrdinaryChunked(t *testing.T) {
	tpm := openSim(t)
	const idx = 0x01500020
	if err := Define(tpm, nil, idx, 2048); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPublic(tpm, idx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 2048 || p.Type() != tpm2.TPMNTOrdinary || p.Attributes != DefinedAttributes {
		t.Fatalf("defined %+v", p)
	}
	if _, err := Read(tpm, p, Index, nil, chunk); !errors.Is(err, ErrUnwritten) {
		t.Errorf("read of an unwritten index: %v", err)
	}
	data := make([]byte, 2000)
	rand.Read(data)
	// Small chunks: the name changes after the first (WRITTEN) and
	// every later chunk still goes through.
	if err := Write(tpm, p, Index, nil, 10, data, 300); err != nil {
		t.Fatal(err)
	}
	if p, err = Open(tpm, idx, &p); err != nil {
		t.Fatalf("the index after writes is the one defined: %v", err)
	}
	got, err := Read(tpm, p, Index, nil, 700)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[10:2010], data) || len(got) != 2048 {
		t.Errorf("read back differs")
	}
	if err := Write(tpm, p, Index, nil, 2040, data[:9], chunk); !errors.Is(err, ErrRange) {
		t.Errorf("write past the end: %v", err)
	}
	if err := Increment(tpm, p, Index, nil); !errors.Is(err, ErrType) {
		t.Errorf("increment of an ordinary index: %v", err)
	}
	if p.ReadAuth(true) != Index || p.WriteAuth(false) != Index {
		t.Errorf("auth of a defined index: %v %v", p.ReadAuth(true), p.WriteAuth(false))
	}
	if err := Undefine(tpm, nil, p); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(tpm, idx, &p); !errors.Is(err, ErrChanged) {
		t.Errorf("open after undefine: %v", err)
	}
	// Redefined with another size: not the index that was opened.
	Define(tpm, nil, idx, 16)
	if _, err := Open(tpm, idx, &p); !errors.Is(err, ErrChanged) {
		t.Errorf("open after redefinition: %v", err)
	}
	if err := Define(tpm, nil, 0x01c00100, 16); !errors.Is(err, ErrNotIndex) {
		t.Errorf("define in the TCG range: %v", err)
	}
}

func TestCounterBitsExtend(t *testing.T) {
	tpm := openSim(t)
	owner := tpm2.TPMANV{OwnerRead: true, OwnerWrite: true, NoDA: true}
	c := owner
	c.NT = tpm2.TPMNTCounter
	p := define(t, tpm, 0x01500001, c, 8, nil)
	for i := 0; i < 3; i++ {
		if err := Increment(tpm, p, Owner, nil); err != nil {
			t.Fatal(err)
		}
		p, _ = ReadPublic(tpm, p.Index)
	}
	v, err := Read(tpm, p, Owner, nil, chunk)
	if err != nil {
		t.Fatal(err)
	}
	first := binary.BigEndian.Uint64(v)
	if p.ReadAuth(false) != NoAuth || p.ReadAuth(true) != Owner {
		t.Errorf("owner-only index: read auth %v / %v", p.ReadAuth(false), p.ReadAuth(true))
	}
	if err := Increment(tpm, p, Owner, nil); err != nil {
		t.Fatal(err)
	}
	v, _ = Read(tpm, p, Owner, nil, chunk)
	if binary.BigEndian.Uint64(v) != first+1 {
		t.Errorf("counter %d after %d", binary.BigEndian.Uint64(v), first)
	}

	b := owner
	b.NT = tpm2.TPMNTBits
	p = define(t, tpm, 0x01500002, b, 8, nil)
	SetBits(tpm, p, Owner, nil, 0x10)
	p, _ = ReadPublic(tpm, p.Index)
	if err := SetBits(tpm, p, Owner, nil, 0x0101); err != nil {
		t.Fatal(err)
	}
	v, _ = Read(tpm, p, Owner, nil, chunk)
	if binary.BigEndian.Uint64(v) != 0x0111 {
		t.Errorf("bits %x", v)
	}

	e := owner
	e.NT = tpm2.TPMNTExtend
	p = define(t, tpm, 0x01500003, e, 32, nil)
	if err := Extend(tpm, p, Owner, nil, []byte("event"), chunk); err != nil {
		t.Fatal(err)
	}
	p, _ = ReadPublic(tpm, p.Index)
	v, _ = Read(tpm, p, Owner, nil, chunk)
	h := sha256.New()
	h.Write(make([]byte, 32))
	h.Write([]byte("event"))
	if !bytes.Equal(v, h.Sum(nil)) {
		t.Errorf("extend index %x, want %x", v, h.Sum(nil))
	}
	if err := Extend(tpm, p, Owner, nil, make([]byte, chunk+1), chunk); !errors.Is(err, ErrRange) {
		t.Errorf("extend by more than a buffer: %v", err)
	}
	// A wrong owner secret is the TPM's refusal.
	if err := Extend(tpm, p, Owner, []byte("wrong"), []byte("x"), chunk); !errors.Is(err, tpm2.TPMRCBadAuth) && !errors.Is(err, tpm2.TPMRCAuthFail) {
		t.Errorf("extend with a wrong owner secret: %v", err)
	}
}

func TestIndexWithPassword(t *testing.T) {
	tpm := openSim(t)
	p := define(t, tpm, 0x01500004, tpm2.TPMANV{AuthRead: true, AuthWrite: true, OwnerRead: true, NoDA: true}, 4, []byte("pw"))
	if err := Write(tpm, p, Index, nil, 0, []byte("abcd"), chunk); !errors.Is(err, tpm2.TPMRCAuthFail) && !errors.Is(err, tpm2.TPMRCBadAuth) {
		t.Fatalf("write with an empty auth value to an index with a password: %v", err)
	}
	if p.WriteAuth(true) != Index {
		t.Errorf("owner may not write: %v", p.WriteAuth(true))
	}
	if !p.Undefinable() {
		t.Errorf("owner's index not undefinable")
	}
	list, err := List(tpm, First, Last)
	if err != nil || len(list) == 0 || list[len(list)-1] != 0x01500004 {
		t.Errorf("List = %x, %v", list, err)
	}
}
