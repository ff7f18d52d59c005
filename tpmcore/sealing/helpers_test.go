package sealing

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
)

// openSim starts the in-process reference TPM with seeds derived from
// seed and closes it when the test ends. The simulator is process-global:
// tests using it must not run in parallel.
func openSim(t *testing.T, seed int64) transport.TPMCloser {
	t.Helper()
	sim, err := simulator.GetWithFixedSeedInsecure(seed)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	tpm := transport.FromReadWriteCloser(sim)
	t.Cleanup(func() {
		if !sim.IsClosed() {
			_ = tpm.Close()
		}
	})
	return tpm
}

// countingTPM records the command code of every command it passes on,
// read straight from the command header (Part 1: tag, size, code).
type countingTPM struct {
	transport.TPM
	cmds []tpm2.TPMCC
	// before, if set, runs before each command is sent.
	before func(cc tpm2.TPMCC)
}

func (c *countingTPM) Send(cmd []byte) ([]byte, error) {
	var cc tpm2.TPMCC
	if len(cmd) >= 10 {
		cc = tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10]))
	}
	if c.before != nil {
		c.before(cc)
	}
	c.cmds = append(c.cmds, cc)
	return c.TPM.Send(cmd)
}

func (c *countingTPM) count(cc tpm2.TPMCC) int {
	n := 0
	for _, x := range c.cmds {
		if x == cc {
			n++
		}
	}
	return n
}

// assertNoHandles fails if the TPM holds any transient object or session
// (loaded or saved).
func assertNoHandles(t *testing.T, tpm transport.TPM, after string) {
	t.Helper()
	for _, first := range []tpm2.TPMHandle{0x80000000, 0x02000000, 0x03000000} {
		rsp, err := tpm2.GetCapability{
			Capability: tpm2.TPMCapHandles, Property: uint32(first), PropertyCount: 64,
		}.Execute(tpm)
		if err != nil {
			t.Fatalf("after %s: get handles: %v", after, err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			t.Fatalf("after %s: get handles: %v", after, err)
		}
		for _, h := range hs.Handle {
			// A loaded policy session (0x03...) is listed under the
			// loaded-session query (0x02...), so flag any of the three.
			if top := h >> 24; top == 0x80 || top == 0x02 || top == 0x03 {
				t.Errorf("after %s: handle 0x%08x left in the TPM", after, uint32(h))
			}
		}
	}
}

// extend extends one PCR with the digest of data and returns the value
// the PCR must now have, computed here: H(old || H(data)).
func extend(t *testing.T, tpm transport.TPM, b pcrsel.Bank, idx int, old, data []byte) []byte {
	t.Helper()
	h := b.Hash.New()
	h.Write(data)
	d := h.Sum(nil)
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(idx), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: b.Alg, Digest: d}}},
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("extend %s:%d: %v", b, idx, err)
	}
	h = b.Hash.New()
	h.Write(old)
	h.Write(d)
	return h.Sum(nil)
}

// readPCR reads one PCR directly, for expectations independent of readPCRs.
func readPCR(t *testing.T, tpm transport.TPM, b pcrsel.Bank, idx int) []byte {
	t.Helper()
	sel := tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
		{Hash: b.Alg, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(idx))},
	}}
	rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(tpm)
	if err != nil || len(rsp.PCRValues.Digests) != 1 {
		t.Fatalf("read %s:%d: %v", b, idx, err)
	}
	return rsp.PCRValues.Digests[0].Buffer
}

func mustParse(t *testing.T, s string) pcrsel.Selection {
	t.Helper()
	sel, err := pcrsel.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// secretOf returns n bytes that differ between sizes and positions.
func secretOf(n int) []byte {
	b := make([]byte, 0, n+sha256.Size)
	for seed := sha1.Sum([]byte{byte(n), byte(n >> 8), byte(n >> 16)}); len(b) < n; {
		s := sha256.Sum256(append(seed[:], byte(len(b)), byte(len(b)>>8), byte(len(b)>>16)))
		b = append(b, s[:]...)
	}
	return b[:n]
}

// recordingTPM keeps every command and response byte that crosses it.
type recordingTPM struct {
	transport.TPM
	traffic bytes.Buffer
}

func (r *recordingTPM) Send(cmd []byte) ([]byte, error) {
	r.traffic.Write(cmd)
	rsp, err := r.TPM.Send(cmd)
	r.traffic.Write(rsp)
	return rsp, err
}

// openEnvelope decrypts obj with key as the format in doc.go says,
// independently of the package's own code.
func openEnvelope(t *testing.T, key []byte, name string, obj *Object) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatalf("key of %d bytes: %v", len(key), err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := gcm.Open(nil, obj.Nonce, obj.Ciphertext, []byte("tpmfs/seal/v1\x00"+name))
	if err != nil {
		t.Fatalf("envelope does not open with the sealed key: %v", err)
	}
	return secret
}

// clearUnseal gets obj's envelope key the plain way (no salted or
// encrypting session), with go-tpm directly, leaving nothing loaded.
func clearUnseal(t *testing.T, tpm transport.TPM, obj *Object) []byte {
	t.Helper()
	srk, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: srk.ObjectHandle}.Execute(tpm)
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](obj.Public)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](obj.Private)
	if err != nil {
		t.Fatal(err)
	}
	item, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    *priv,
		InPublic:     *pub,
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: item.ObjectHandle}.Execute(tpm)
	var auth tpm2.Session = tpm2.PasswordAuth(nil)
	if obj.Selection != "" {
		sess, closeSess, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, 16)
		if err != nil {
			t.Fatal(err)
		}
		defer closeSess()
		sel := mustParse(t, obj.Selection)
		if _, err := (tpm2.PolicyPCR{PolicySession: sess.Handle(), Pcrs: sel.TPML()}).Execute(tpm); err != nil {
			t.Fatal(err)
		}
		auth = sess
	}
	rsp, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: item.ObjectHandle, Name: item.Name, Auth: auth},
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	return rsp.OutData.Buffer
}
