package rm

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/simulator"
)

func TestMalformedCommandsGetErrorResponses(t *testing.T) {
	tpm := openSim(t)
	m := newManager(t, tpm)
	c := newClient(m, tpm)
	k := createPrimary(t, c, eccSigningKey("k"))
	sess, _, err := tpm2.PolicySession(c, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatalf("PolicySession: %v", err)
	}
	vh, sh := uint32(k.ObjectHandle), uint32(sess.Handle())

	// Expected codes: RM layer (0xB0000) | the TPM_RC the spec gives.
	cases := []struct {
		name string
		cmd  []byte
		rc   uint32
	}{
		{"empty", nil, 0xB0142},
		{"header only half", []byte{0x80, 0x01, 0, 0}, 0xB0142},
		{"size field lies", append(getRandomCommand(4), 0, 0), 0xB0142},
		{"over 4096 bytes", rawCommand(0x8001, 0x17B, make([]byte, 4096)), 0xB0142},
		{"TPM 1.2 command", rawCommand(0x00C1, 0x46, be32(8)), 0xB001E},
		{"unknown command code", rawCommand(0x8001, 0x0FFF), 0xB0143},
		{"handle area cut", rawCommand(0x8001, 0x173, be16(0x80FF)), 0xB0142},
		{"bad authorization size", rawCommand(0x8002, 0x15E, be32(vh), be32(200)), 0xB0144},
		{"unknown virtual handle", rawCommand(0x8001, 0x173, be32(vh+7)), rmHandle1},
		{"the TPM's real handle", rawCommand(0x8001, 0x173, be32(0x80000000)), rmHandle1},
		{"foreign session in handle area", rawCommand(0x8001, 0x16B, be32(sh+1)), rmHandle1},
		{"foreign session in authorization", rawCommand(0x8002, 0x15E, be32(vh), authArea(rawAuth(sh+1, 1))), rmHandleSess1},
		{"flush unknown virtual handle", rawCommand(0x8001, 0x165, be32(vh+9)), rmHandleParam1},
		{"flush with trailing bytes", rawCommand(0x8001, 0x165, be32(vh), []byte{0}), 0xB0142},
		{"flush with sessions tag", rawCommand(0x8002, 0x165, authArea(rawAuth(0x40000009, 1)), be32(vh)), 0xB0145},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rsp, err := c.Send(tc.cmd)
			if err != nil {
				t.Fatalf("Transmit: %v", err)
			}
			want := append(be16(0x8001), append(be32(10), be32(tc.rc)...)...)
			if !bytes.Equal(rsp, want) {
				t.Errorf("response %x, want %x", rsp, want)
			}
			assertOnlyResident(t, m, tpm)
		})
	}

	// Garbage the manager passes on is the TPM's to refuse; the space is
	// unharmed either way.
	for _, cmd := range [][]byte{
		rawCommand(0x8001, 0x161, []byte{1, 2, 3}), // ContextLoad, cut blob
		rawCommand(0x8001, 0x161, make([]byte, 8), be32(0x80000000), be32(0x40000001), be16(4), []byte{1, 2, 3, 4}), // forged object context
		rawCommand(0x8001, 0x165, be32(0x81000000)),                                                                 // FlushContext of a persistent handle
	} {
		if rc := responseRC(t, c, cmd); rc == 0 {
			t.Errorf("command %x succeeded", cmd)
		}
		assertOnlyResident(t, m, tpm)
	}
	signAndVerify(t, c, k.ObjectHandle, k.OutPublic, "after garbage")
	if _, err := (tpm2.PolicyAuthValue{PolicySession: sess.Handle()}).Execute(c); err != nil {
		t.Errorf("session after garbage: %v", err)
	}
	c.close(t)
	assertNothingLoaded(t, tpm)
}

// FuzzTransmit feeds arbitrary commands through a space that holds an
// object (virtual handle 0x80FF0000) and a policy session, against the
// reference TPM. Whatever comes in, the manager answers with one well
// formed response and leaves nothing loaded in the TPM.
func FuzzTransmit(f *testing.F) {
	f.Add(getRandomCommand(8))
	f.Add(rawCommand(0x8001, 0x173, be32(vhandleBase)))                                   // ReadPublic
	f.Add(rawCommand(0x8001, 0x162, be32(vhandleBase)))                                   // ContextSave
	f.Add(rawCommand(0x8001, 0x165, be32(vhandleBase)))                                   // FlushContext
	f.Add(rawCommand(0x8001, 0x16B, be32(0x03000000)))                                    // PolicyAuthValue
	f.Add(rawCommand(0x8001, 0x17A, be32(1), be32(0x80000000), be32(10)))                 // GetCapability
	f.Add(rawCommand(0x8002, 0x15E, be32(vhandleBase), authArea(rawAuth(0x03000000, 1)))) // Unseal
	f.Add(rawCommand(0x8001, 0x176, be32(0x40000007), be32(vhandleBase), be16(16), make([]byte, 16), be16(0), []byte{1}, be16(0x10), be16(0x0B)))
	f.Fuzz(func(t *testing.T, cmd []byte) {
		sim, err := simulator.OpenSimulator()
		if err != nil {
			t.Fatalf("open simulator: %v", err)
		}
		defer sim.Close()
		m, err := New(sim)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		c := newClient(m, sim)
		if k, err := (tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}).Execute(c); err != nil || uint32(k.ObjectHandle) != vhandleBase {
			t.Fatalf("CreatePrimary: %v", err)
		}
		if _, _, err := tpm2.PolicySession(c, tpm2.TPMAlgSHA256, 16); err != nil {
			t.Fatalf("PolicySession: %v", err)
		}

		rsp, err := c.Send(bytes.Clone(cmd))
		if err != nil {
			t.Fatalf("Transmit: %v", err)
		}
		if len(rsp) < 10 || binary.BigEndian.Uint32(rsp[2:6]) != uint32(len(rsp)) {
			t.Fatalf("malformed response %x", rsp)
		}
		checkOnlyResident(t, m, sim)
		if err := m.Flush(sim, c.sp); err != nil && !isTPMError(err) {
			t.Fatalf("Flush: %v", err)
		}
		checkNothingLoaded(t, sim)
	})
}

// checkNothingLoaded is assertNothingLoaded for a TPM that a fuzzed
// command may have put into failure mode, where it answers nothing.
func checkNothingLoaded(t *testing.T, tpm transport.TPM) {
	t.Helper()
	checkLoaded(t, tpm, nil)
}

// checkOnlyResident: what the TPM has loaded is what m keeps resident.
func checkOnlyResident(t *testing.T, m *Manager, tpm transport.TPM) {
	t.Helper()
	checkLoaded(t, tpm, m.Resident())
}

func checkLoaded(t *testing.T, tpm transport.TPM, want []uint32) {
	t.Helper()
	var loaded []uint32
	for _, first := range []uint32{capTransient, capLoadedSession} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: 254}.Execute(tpm)
		if err != nil {
			return
		}
		l, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return
		}
		for _, h := range l.Handle {
			loaded = append(loaded, uint32(h))
		}
	}
	slices.Sort(loaded)
	if !slices.Equal(loaded, want) {
		t.Fatalf("TPM has handles %08x loaded, want %08x", loaded, want)
	}
}
