package main

import (
	"slices"
	"testing"

	"tpmfs/mountopts"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/cmdpolicy"
)

// TestRMPoliciesMatchLevels: rm_policy= accepts exactly the levels
// cmdpolicy knows, in the same order.
func TestRMPoliciesMatchLevels(t *testing.T) {
	if !slices.Equal(mountopts.RMPolicies, cmdpolicy.Levels) {
		t.Errorf("mountopts.RMPolicies %q, cmdpolicy.Levels %q", mountopts.RMPolicies, cmdpolicy.Levels)
	}
}

func TestRawRules(t *testing.T) {
	cfg := &mountopts.Config{UID: 1000, RMPolicy: "strict", RMQuota: mountopts.RMQuota{Objects: 1, Sessions: 2, Opens: 3}}
	r, err := rawRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Policy != cmdpolicy.Strict || *r.Quota != (tpmcore.RawQuota{Objects: 1, Sessions: 2, Opens: 3}) || !slices.Equal(r.Admins, []uint32{0, 1000}) {
		t.Errorf("rawRules = %+v (quota %+v)", r, *r.Quota)
	}
	cfg.RMPolicy = "bogus"
	if _, err := rawRules(cfg); err == nil {
		t.Errorf("rawRules accepted rm_policy=bogus")
	}
}
