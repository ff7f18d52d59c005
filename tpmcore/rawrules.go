package tpmcore

import (
	"tpmfs/tpmcore/cmdpolicy"
	"tpmfs/tpmcore/rm"
)

// RawRules are the resource manager's rules for raw clients that are not
// admins (Options.RawRules): a command policy (rm_policy=) and a quota
// per uid (rm_quota=). The zero value restricts nobody.
type RawRules = rm.Rules

// RawQuota is what one uid may hold through raw clients at once.
type RawQuota = rm.Quota

// RawPolicy is a level of the command policy: cmdpolicy.Open, Standard
// or Strict.
type RawPolicy = cmdpolicy.Level
