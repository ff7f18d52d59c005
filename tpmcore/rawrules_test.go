package tpmcore

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tpmcore/cmdpolicy"
)

// TestRawRulesReachTheManager: Options.RawRules hold a non-admin uid to
// the policy and its quota of open clients, and leave the admin alone.
func TestRawRulesReachTheManager(t *testing.T) {
	c := newSimCoreWith(t, Options{Source: "sim:", RawRules: RawRules{
		Policy: cmdpolicy.Standard,
		Quota:  &RawQuota{Objects: 2, Sessions: 1, Opens: 1},
		Admins: []uint32{0},
	}})
	user, err := c.NewClient(1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewClient(1000); !errors.Is(err, ErrTooManyOpen) {
		t.Errorf("second open by uid 1000: %v, want ErrTooManyOpen", err)
	}
	_, err = tpm2.Clear{AuthHandle: tpm2.TPMRHLockout}.Execute(rawTransport{user})
	if rc, ok := RC(err); !ok || rc != 0xB0120 {
		t.Errorf("Clear by uid 1000: %v, want RM-layer TPM_RC_DISABLED", err)
	}
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(rawTransport{user}); err != nil {
		t.Errorf("GetRandom by uid 1000: %v", err)
	}
	for range 3 {
		root, err := c.NewClient(0)
		if err != nil {
			t.Fatalf("root's open: %v", err)
		}
		defer root.Close()
	}
	if err := user.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := c.NewClient(1000)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	if _, err := again.Transmit(context.Background(), []byte{0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 8}); err != nil {
		t.Fatal(err)
	}
	again.Close()
}
