package tpmcore

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// recordTPM keeps the last response, so go-tpm and the fast path can be
// given the same bytes.
type recordTPM struct {
	t    transport.TPM
	last []byte
}

func (r *recordTPM) Send(cmd []byte) ([]byte, error) {
	rsp, err := r.t.Send(cmd)
	r.last = bytes.Clone(rsp)
	return rsp, err
}

// replayTPM answers every command with rsp.
type replayTPM struct{ rsp []byte }

func (r replayTPM) Send([]byte) ([]byte, error) { return bytes.Clone(r.rsp), nil }

func openSim(t *testing.T) transport.TPM {
	t.Helper()
	sim, err := simulator.Get()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return transport.FromReadWriteCloser(sim)
}

// goTPMPCRs reads with go-tpm's own PCR_Read: the independent answer.
func goTPMPCRs(t *testing.T, tpm transport.TPM, alg tpm2.TPMIAlgHash, pcr int) []byte {
	t.Helper()
	rsp, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash: alg, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(pcr)),
	}}}}.Execute(tpm)
	if err != nil {
		t.Fatalf("go-tpm PCR_Read %v:%d: %v", alg, pcr, err)
	}
	if len(rsp.PCRValues.Digests) != 1 {
		return nil
	}
	return rsp.PCRValues.Digests[0].Buffer
}

// readBatch on the simulator agrees with go-tpm, for one PCR and for
// more PCRs and banks than one response holds; a bank the TPM lacks fails
// the read as the TPM says (TPM_RC_HASH).
func TestReadBatchMatchesGoTPM(t *testing.T) {
	tpm := openSim(t)
	// Make the PCRs differ from each other and from their reset values.
	for pcr := 0; pcr < 16; pcr++ {
		d := make([]byte, 32)
		rand.Read(d)
		_, err := tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
			Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d}}},
		}.Execute(tpm)
		if err != nil {
			t.Fatalf("extend %d: %v", pcr, err)
		}
	}
	algs := []tpm2.TPMIAlgHash{tpm2.TPMAlgSHA1, tpm2.TPMAlgSHA256, tpm2.TPMAlgSHA384}
	batches := [][]pcrKey{
		{{tpm2.TPMAlgSHA256, 0}},
		{{tpm2.TPMAlgSHA256, 23}, {tpm2.TPMAlgSHA256, 23}}, // asked twice
	}
	if _, err := readBatch(tpm, []pcrKey{{tpm2.TPMAlgSM3256, 0}, {tpm2.TPMAlgSHA256, 1}}, nil); !errors.Is(err, tpm2.TPMRCHash) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("readBatch of a bank the simulator lacks: %v, want TPM_RC_HASH as ErrInvalid", err)
	}
	var all []pcrKey
	for _, a := range algs {
		for pcr := 0; pcr < maxPCRs; pcr++ {
			all = append(all, pcrKey{a, pcr})
		}
	}
	batches = append(batches, all)
	for i := 0; i < 20; i++ {
		var b []pcrKey
		for j := 0; j < 1+i; j++ {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(all))))
			b = append(b, all[n.Int64()])
		}
		batches = append(batches, b)
	}
	for _, keys := range batches {
		vals, err := readBatch(tpm, keys, nil)
		if err != nil {
			t.Fatalf("readBatch(%v): %v", keys, err)
		}
		for i, k := range keys {
			want := goTPMPCRs(t, tpm, k.alg, k.idx)
			if !bytes.Equal(vals[i], want) || (want == nil) != (vals[i] == nil) {
				t.Fatalf("readBatch %v: %x, go-tpm says %x", k, vals[i], want)
			}
		}
	}
}

// The fast path parses what the simulator answers exactly as go-tpm does.
func TestFastParsersMatchGoTPM(t *testing.T) {
	tpm := openSim(t)
	rec := &recordTPM{t: tpm}
	for _, n := range []uint16{1, 7, 32, 48, 64} {
		want, err := tpm2.GetRandom{BytesRequested: n}.Execute(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseGetRandom(rec.last)
		if err != nil || !bytes.Equal(got, want.RandomBytes.Buffer) {
			t.Fatalf("GetRandom(%d): fast path %x, %v; go-tpm %x", n, got, err, want.RandomBytes.Buffer)
		}
		if cmd := getRandomCommand(n); !bytes.Equal(cmd, goTPMCommand(func(t transport.TPM) { tpm2.GetRandom{BytesRequested: n}.Execute(t) })) {
			t.Fatalf("cached GetRandom(%d) command differs from go-tpm's", n)
		}
	}
	// A TPM error comes back as go-tpm's TPMRC.
	_, goErr := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash: tpm2.TPMAlgSHA256, PCRSelect: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	}}}}.Execute(rec)
	err := parsePCRRead(rec.last, func(tpm2.TPMIAlgHash, int, []byte) {})
	var rc tpm2.TPMRC
	if goErr == nil || !errors.As(err, &rc) || err.Error() != goErr.Error() {
		t.Fatalf("PCR_Read of a bad selection: fast path %v, go-tpm %v", err, goErr)
	}
}

// checkPCRReadParse compares parsePCRRead with go-tpm on rsp: whatever the
// fast path accepts, go-tpm accepts with the same digests in the same
// order.
func checkPCRReadParse(t *testing.T, rsp []byte) {
	type digest struct {
		alg tpm2.TPMIAlgHash
		pcr int
		d   []byte
	}
	var got []digest
	err := parsePCRRead(rsp, func(alg tpm2.TPMIAlgHash, pcr int, d []byte) {
		got = append(got, digest{alg, pcr, d})
	})
	if err != nil {
		return // stricter than go-tpm is fine (size field, tag, trailing bytes)
	}
	want, gerr := tpm2.PCRRead{}.Execute(replayTPM{rsp})
	if gerr != nil {
		t.Fatalf("fast path accepted %x, go-tpm: %v", rsp, gerr)
	}
	i := 0
	for _, s := range want.PCRSelectionOut.PCRSelections {
		for pcr := 0; pcr < 8*len(s.PCRSelect); pcr++ {
			if s.PCRSelect[pcr/8]&(1<<(pcr%8)) == 0 {
				continue
			}
			if i >= len(got) || i >= len(want.PCRValues.Digests) || got[i].alg != s.Hash || got[i].pcr != pcr ||
				!bytes.Equal(got[i].d, want.PCRValues.Digests[i].Buffer) {
				t.Fatalf("digest %d of %x: fast path %+v, go-tpm %v:%d", i, rsp, got, s.Hash, pcr)
			}
			i++
		}
	}
	if i != len(got) {
		t.Fatalf("%x: fast path gave %d digests, go-tpm %d", rsp, len(got), i)
	}
}

func pcrReadResponse(sels []tpm2.TPMSPCRSelection, digests [][]byte) []byte {
	b := []byte{0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}
	b = binary.BigEndian.AppendUint32(b, uint32(len(sels)))
	for _, s := range sels {
		b = binary.BigEndian.AppendUint16(b, uint16(s.Hash))
		b = append(b, byte(len(s.PCRSelect)))
		b = append(b, s.PCRSelect...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(digests)))
	for _, d := range digests {
		b = binary.BigEndian.AppendUint16(b, uint16(len(d)))
		b = append(b, d...)
	}
	binary.BigEndian.PutUint32(b[2:6], uint32(len(b)))
	return b
}

func FuzzParsePCRRead(f *testing.F) {
	d32 := bytes.Repeat([]byte{0xab}, 32)
	f.Add(pcrReadResponse([]tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: []byte{1, 0, 0}}}, [][]byte{d32}))
	f.Add(pcrReadResponse([]tpm2.TPMSPCRSelection{
		{Hash: tpm2.TPMAlgSHA1, PCRSelect: []byte{0x81, 0, 0}},
		{Hash: tpm2.TPMAlgSHA256, PCRSelect: []byte{0, 0, 0x80}},
	}, [][]byte{d32[:20], d32[:20], d32}))
	f.Add(pcrReadResponse(nil, nil))
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x84})
	f.Fuzz(func(t *testing.T, rsp []byte) {
		checkPCRReadParse(t, rsp)
	})
}

func FuzzParseGetRandom(f *testing.F) {
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 14, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb})
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x22})
	f.Fuzz(func(t *testing.T, rsp []byte) {
		got, err := parseGetRandom(rsp)
		if err != nil {
			return
		}
		want, gerr := tpm2.GetRandom{}.Execute(replayTPM{rsp})
		if gerr != nil || !bytes.Equal(got, want.RandomBytes.Buffer) {
			t.Fatalf("%x: fast path %x; go-tpm %v, %v", rsp, got, want, gerr)
		}
	})
}
