package tpmcore

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// rawTransport runs go-tpm commands through a raw client, as a process
// writing tpmrm0 does.
type rawTransport struct{ cl *Client }

func (r rawTransport) Send(cmd []byte) ([]byte, error) {
	return r.cl.Transmit(context.Background(), cmd)
}

// TestSealAfterRawClientsAbandonSessions is finding 8 of issue 11 at the
// core: raw clients start and save sessions until the TPM has no session
// handle left, then close; sealing and unsealing work at once, because the
// core takes handles back from the abandoned sessions.
func TestSealAfterRawClientsAbandonSessions(t *testing.T) {
	c := newSimCore(t)
	ctx := context.Background()
	saved, full := 0, false
	for !full {
		cl, err := c.NewClient(0)
		if err != nil {
			t.Fatal(err)
		}
		raw := rawTransport{cl}
		for range 16 { // more than one client may hold: it is told SESSION_MEMORY
			s, _, err := tpm2.PolicySession(raw, tpm2.TPMAlgSHA256, 16)
			if rc, ok := RC(err); ok && rc&0xFFF == tpm2.TPMRCSessionMemory {
				break
			}
			if err != nil {
				t.Fatalf("raw session %d: %v", saved, err)
			}
			if _, err := (tpm2.ContextSave{SaveHandle: s.Handle()}).Execute(raw); err != nil {
				t.Fatalf("ContextSave %d: %v", saved, err)
			}
			saved++
		}
		// The TPM itself is full once a direct StartAuthSession fails.
		err = c.q.do(ctx, func(tpm transport.TPM) error {
			_, closer, err := tpm2.HMACSession(tpm, tpm2.TPMAlgSHA256, 16)
			if err == nil {
				return closer()
			}
			if rc, ok := RC(err); ok && rc == tpm2.TPMRCSessionHandles {
				full = true
				return nil
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Close(); err != nil {
			t.Fatal(err)
		}
		if saved > 1024 {
			t.Fatalf("%d sessions saved and the TPM is not full", saved)
		}
	}
	t.Logf("%d sessions saved and abandoned: the TPM has no session handle left", saved)

	sel, err := c.ParseSelection("sha256:0,7")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("sealed beside abandoned sessions")
	obj, err := c.Seal(ctx, "obj", Bind(sel), secret)
	if err != nil {
		t.Fatalf("Seal with the TPM's session handles held by abandoned sessions: %v", err)
	}
	got, err := c.Unseal(ctx, "obj", obj, nil)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
}
