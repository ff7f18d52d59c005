package main

import (
	"fmt"

	"tpmfs/mountopts"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/cmdpolicy"
)

// rawRules turns rm_policy= and rm_quota= into the resource manager's
// rules: root and the mount's owner (uid=) are its admins, unrestricted
// as with the kernel's /dev/tpmrm0; every other uid is held to both.
func rawRules(cfg *mountopts.Config) (tpmcore.RawRules, error) {
	level, err := cmdpolicy.ParseLevel(cfg.RMPolicy)
	if err != nil {
		return tpmcore.RawRules{}, fmt.Errorf("rm_policy=%s: %w", cfg.RMPolicy, err)
	}
	q := cfg.RMQuota
	return tpmcore.RawRules{
		Policy: level,
		Quota:  &tpmcore.RawQuota{Objects: q.Objects, Sessions: q.Sessions, Opens: q.Opens},
		Admins: []uint32{0, cfg.UID},
	}, nil
}
