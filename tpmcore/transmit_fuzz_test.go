package tpmcore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// captured is the bytes of a command built by go-tpm, for seeds.
type captured struct{ cmd []byte }

var errCaptured = errors.New("captured")

func (c *captured) Send(cmd []byte) ([]byte, error) {
	c.cmd = bytes.Clone(cmd)
	return nil, errCaptured
}

func commandBytes(build func(c *captured)) []byte {
	c := &captured{}
	build(c)
	return c.cmd
}

// FuzzClientTransmit sends arbitrary bytes down the raw-command path of a
// Core (what a tpmrm0 writer reaches: client, queue, resource manager,
// simulator). Whatever comes in: no panic, either one whole TPM response
// or an error the fs layer maps (invalid input, TPM unavailable), nothing
// left loaded once the client closes, and the Core still gets an answer
// from the TPM for its own next command.
func FuzzClientTransmit(f *testing.F) {
	f.Add(commandBytes(func(c *captured) { tpm2.GetRandom{BytesRequested: 8}.Execute(c) }))
	f.Add(commandBytes(func(c *captured) {
		tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(c)
	}))
	f.Add(commandBytes(func(c *captured) {
		tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
			{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(0, 7)}}}}.Execute(c)
	}))
	f.Add(commandBytes(func(c *captured) { tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(0x80000000)}.Execute(c) }))
	f.Add(commandBytes(func(c *captured) {
		tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: 0x80000000, PropertyCount: 8}.Execute(c)
	}))
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, cmd []byte) {
		c := newSimCore(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl, err := c.NewClient(0)
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		rsp, err := cl.Transmit(ctx, bytes.Clone(cmd))
		switch {
		case err == nil:
			if len(rsp) < 10 || binary.BigEndian.Uint32(rsp[2:6]) != uint32(len(rsp)) {
				t.Fatalf("malformed response %x", rsp)
			}
		case errors.Is(err, ErrInvalid):
		default:
			t.Fatalf("Transmit: %v", err)
		}
		if err := cl.Close(); err != nil && !isTPMAnswer(err) {
			t.Fatalf("Close: %v", err)
		}
		// A fuzzed command may put the TPM into failure mode, where it
		// refuses what follows; it must still answer.
		if err := c.Random(ctx, make([]byte, 8)); err != nil && !isTPMAnswer(err) {
			t.Fatalf("the core's own command after the fuzzed one: %v", err)
		}
		if hs := loadedIfAnswering(t, c); len(hs) != 0 {
			t.Fatalf("the TPM still holds %x", hs)
		}
	})
}

func isTPMAnswer(err error) bool {
	_, ok := RC(err)
	return ok && !errors.Is(err, ErrUnavailable)
}

// loadedIfAnswering lists leftover handles unless the TPM no longer
// answers GetCapability (failure mode).
func loadedIfAnswering(t *testing.T, c *Core) []tpm2.TPMHandle {
	var hs []tpm2.TPMHandle
	err := c.q.do(context.Background(), func(tpm transport.TPM) (err error) {
		hs, err = listLoaded(tpm)
		return err
	})
	if err != nil && !isTPMAnswer(err) {
		t.Fatalf("list handles: %v", err)
	}
	return hs
}
