package cmdpolicy

import (
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// Handles as a client sends them.
const (
	hOwner       = 0x40000001
	hNull        = 0x40000007
	hLockout     = 0x4000000A
	hEndorsement = 0x4000000B
	hPlatform    = 0x4000000C
	hPlatformNV  = 0x4000000D
	hACT0        = 0x40000110
	hFWOwner     = 0x40000140
	hSVNPlatform = 0x40030005
	hNVIndex     = 0x01500020
	hTransient   = 0x80FF0001
	hPersistent  = 0x81000001
	hPolicySess  = 0x03000000
	hPCR7        = 0x00000007
)

const (
	disabled = tpm2.TPMRCDisabled
	ok       = tpm2.TPMRCSuccess
)

func hier(handle int) tpm2.TPMRC { return tpm2.TPMRCHierarchy | tpm2.TPMRC(handle<<8) }

// The policy command by command, written from Part 3's handle areas and
// the list, not from the table: what each level answers.
var cases = []struct {
	what             string
	cc               tpm2.TPMCC
	handles          []uint32
	standard, strict tpm2.TPMRC
}{
	// The list: refused at standard and strict.
	{"tpm2_clear", tpm2.TPMCCClear, []uint32{hLockout}, disabled, disabled},
	{"tpm2_clear -c p", tpm2.TPMCCClear, []uint32{hPlatform}, disabled, disabled},
	{"tpm2_clearcontrol", tpm2.TPMCCClearControl, []uint32{hPlatform}, disabled, disabled},
	{"tpm2_hierarchycontrol", tpm2.TPMCCHierarchyControl, []uint32{hOwner}, disabled, disabled},
	{"tpm2_changeauth -c owner", tpm2.TPMCCHierarchyChanegAuth, []uint32{hOwner}, disabled, disabled},
	{"tpm2_changeauth -c endorsement", tpm2.TPMCCHierarchyChanegAuth, []uint32{hEndorsement}, disabled, disabled},
	{"tpm2_setprimarypolicy", tpm2.TPMCCSetPrimaryPolicy, []uint32{hOwner}, disabled, disabled},
	{"tpm2_changeeps", tpm2.TPMCCChangeEPS, []uint32{hPlatform}, disabled, disabled},
	{"tpm2_changepps", tpm2.TPMCCChangePPS, []uint32{hPlatform}, disabled, disabled},
	{"tpm2_dictionarylockout -c", tpm2.TPMCCDictionaryAttackLockReset, []uint32{hLockout}, disabled, disabled},
	{"tpm2_dictionarylockout -s", tpm2.TPMCCDictionaryAttackParameters, []uint32{hLockout}, disabled, disabled},
	{"tpm2_evictcontrol", tpm2.TPMCCEvictControl, []uint32{hOwner, hTransient}, disabled, disabled},
	{"tpm2_evictcontrol (remove)", tpm2.TPMCCEvictControl, []uint32{hOwner, hPersistent}, disabled, disabled},
	{"tpm2_nvdefine", tpm2.TPMCCNVDefineSpace, []uint32{hOwner}, disabled, disabled},
	{"tpm2_nvdefine -C p", tpm2.TPMCCNVDefineSpace, []uint32{hPlatform}, disabled, disabled},
	{"NV_DefineSpace2", tpm2.TPMCC(0x19D), []uint32{hOwner}, disabled, disabled},
	{"tpm2_nvundefine", tpm2.TPMCCNVUndefineSpace, []uint32{hOwner, hNVIndex}, disabled, disabled},
	{"tpm2_nvundefine -S", tpm2.TPMCCNVUndefineSpaceSpecial, []uint32{hNVIndex, hPlatform}, disabled, disabled},
	{"NV_GlobalWriteLock", tpm2.TPMCCNVGlobalWriteLock, []uint32{hOwner}, disabled, disabled},
	{"tpm2_setclock", tpm2.TPMCCClockSet, []uint32{hOwner}, disabled, disabled},
	{"tpm2_clockrateadjust", tpm2.TPMCCClockRateAdjust, []uint32{hOwner}, disabled, disabled},
	{"FieldUpgradeStart", tpm2.TPMCCFieldUpgradeStart, []uint32{hPlatform, hTransient}, disabled, disabled},
	{"FieldUpgradeData", tpm2.TPMCCFieldUpgradeData, nil, disabled, disabled},
	{"tpm2_setcommandauditstatus", tpm2.TPMCCSetCommandCodeAuditStatus, []uint32{hOwner}, disabled, disabled},
	{"PP_Commands", tpm2.TPMCCPPCommands, []uint32{hPlatform}, disabled, disabled},
	{"SetAlgorithmSet", tpm2.TPMCCSetAlgorithmSet, []uint32{hPlatform}, disabled, disabled},
	// PCRs change for everyone.
	{"tpm2_pcrextend", tpm2.TPMCCPCRExtend, []uint32{hPCR7}, disabled, disabled},
	{"tpm2_pcrevent", tpm2.TPMCCPCREvent, []uint32{hPCR7}, disabled, disabled},
	{"tpm2_pcrreset", tpm2.TPMCCPCRReset, []uint32{0x10}, disabled, disabled},
	{"tpm2_pcrallocate", tpm2.TPMCCPCRAllocate, []uint32{hPlatform}, disabled, disabled},
	{"PCR_SetAuthValue", tpm2.TPMCCPCRSetAuthValue, []uint32{hPCR7}, disabled, disabled},
	{"PCR_SetAuthPolicy", tpm2.TPMCCPCRSetAuthPolicy, []uint32{hPlatform}, disabled, disabled},
	{"tpm2_eventsequencecomplete with a PCR", tpm2.TPMCCEventSequenceComplete, []uint32{hPCR7, hTransient}, disabled, disabled},
	{"tpm2_eventsequencecomplete without", tpm2.TPMCCEventSequenceComplete, []uint32{hNull, hTransient}, ok, ok},
	// Power, timers, vendors and the unknown.
	{"tpm2_startup (systemd sends it first)", tpm2.TPMCCStartup, nil, ok, ok},
	{"tpm2_shutdown", tpm2.TPMCCShutdown, nil, disabled, disabled},
	{"ACT_SetTimeout", tpm2.TPMCCACTSetTimeout, []uint32{hACT0}, disabled, disabled},
	{"Vendor_TCG_Test", tpm2.TPMCC(0x20000000), nil, disabled, disabled},
	{"a vendor command", tpm2.TPMCC(0x20000123), nil, disabled, disabled},
	{"a code newer than the table", tpm2.TPMCC(0x1F0), nil, disabled, disabled},
	{"SetCapability", tpm2.TPMCC(0x19F), []uint32{hPlatform}, disabled, disabled},
	// What tpm2-tools and systemd need: creating and reading.
	{"tpm2_createprimary -C o", tpm2.TPMCCCreatePrimary, []uint32{hOwner}, ok, ok},
	{"tpm2_createprimary -C n", tpm2.TPMCCCreatePrimary, []uint32{hNull}, ok, ok},
	{"tpm2_createek", tpm2.TPMCCCreatePrimary, []uint32{hEndorsement}, ok, ok},
	{"tpm2_createprimary -C p", tpm2.TPMCCCreatePrimary, []uint32{hPlatform}, hier(1), hier(1)},
	{"CreatePrimary under a firmware-limited owner", tpm2.TPMCCCreatePrimary, []uint32{hFWOwner}, ok, ok},
	{"CreatePrimary under an SVN-limited platform", tpm2.TPMCCCreatePrimary, []uint32{hSVNPlatform}, hier(1), hier(1)},
	{"CreatePrimary under a vendor authorisation", tpm2.TPMCCCreatePrimary, []uint32{0x40000010}, hier(1), hier(1)},
	{"CreateLoaded primary", tpm2.TPMCCCreateLoaded, []uint32{hOwner}, ok, ok},
	{"CreateLoaded child", tpm2.TPMCCCreateLoaded, []uint32{hTransient}, ok, ok},
	{"tpm2_create", tpm2.TPMCCCreate, []uint32{hTransient}, ok, ok},
	{"tpm2_create under the persistent SRK", tpm2.TPMCCCreate, []uint32{hPersistent}, ok, ok},
	{"tpm2_load", tpm2.TPMCCLoad, []uint32{hTransient}, ok, ok},
	{"tpm2_loadexternal", tpm2.TPMCCLoadExternal, nil, ok, ok},
	{"tpm2_unseal", tpm2.TPMCCUnseal, []uint32{hTransient}, ok, ok},
	{"tpm2_sign", tpm2.TPMCCSign, []uint32{hTransient}, ok, ok},
	{"tpm2_verifysignature", tpm2.TPMCCVerifySignature, []uint32{hTransient}, ok, ok},
	{"tpm2_quote", tpm2.TPMCCQuote, []uint32{hTransient}, ok, ok},
	{"tpm2_getrandom", tpm2.TPMCCGetRandom, nil, ok, ok},
	{"tpm2_stirrandom", tpm2.TPMCCStirRandom, nil, ok, ok},
	{"tpm2_pcrread", tpm2.TPMCCPCRRead, nil, ok, ok},
	{"tpm2_getcap", tpm2.TPMCCGetCapability, nil, ok, ok},
	{"tpm2_readpublic", tpm2.TPMCCReadPublic, []uint32{hPersistent}, ok, ok},
	{"tpm2_readclock", tpm2.TPMCCReadClock, nil, ok, ok},
	{"tpm2_hash", tpm2.TPMCCHash, nil, ok, ok},
	{"tpm2_hmac", tpm2.TPMCCMAC, []uint32{hTransient}, ok, ok},
	{"tpm2_rsadecrypt", tpm2.TPMCCRSADecrypt, []uint32{hTransient}, ok, ok},
	{"tpm2_encryptdecrypt", tpm2.TPMCCEncryptDecrypt2, []uint32{hTransient}, ok, ok},
	{"tpm2_import", tpm2.TPMCCImport, []uint32{hTransient}, ok, ok},
	{"tpm2_duplicate", tpm2.TPMCCDuplicate, []uint32{hTransient, hTransient}, ok, ok},
	{"tpm2_changeauth of an object", tpm2.TPMCCObjectChangeAuth, []uint32{hTransient, hTransient}, ok, ok},
	{"tpm2_certify", tpm2.TPMCCCertify, []uint32{hTransient, hTransient}, ok, ok},
	{"tpm2_activatecredential", tpm2.TPMCCActivateCredential, []uint32{hTransient, hTransient}, ok, ok},
	{"tpm2_makecredential", tpm2.TPMCCMakeCredential, []uint32{hTransient}, ok, ok},
	{"tpm2_startauthsession", tpm2.TPMCCStartAuthSession, []uint32{hNull, hNull}, ok, ok},
	{"tpm2_startauthsession bound to the owner", tpm2.TPMCCStartAuthSession, []uint32{hTransient, hOwner}, ok, ok},
	{"tpm2_policypcr", tpm2.TPMCCPolicyPCR, []uint32{hPolicySess}, ok, ok},
	{"tpm2_policyauthorize", tpm2.TPMCCPolicyAuthorize, []uint32{hPolicySess}, ok, ok},
	{"tpm2_policysecret -c e", tpm2.TPMCCPolicySecret, []uint32{hEndorsement, hPolicySess}, ok, ok},
	{"tpm2_policysecret -c o", tpm2.TPMCCPolicySecret, []uint32{hOwner, hPolicySess}, ok, ok},
	{"tpm2_policysecret -c l", tpm2.TPMCCPolicySecret, []uint32{hLockout, hPolicySess}, hier(1), hier(1)},
	{"tpm2_policysecret -c p", tpm2.TPMCCPolicySecret, []uint32{hPlatform, hPolicySess}, hier(1), hier(1)},
	{"tpm2_flushcontext", tpm2.TPMCCFlushContext, nil, ok, ok},
	{"tpm2_contextsave", tpm2.TPMCCContextSave, []uint32{hTransient}, ok, ok},
	{"ContextLoad", tpm2.TPMCCContextLoad, nil, ok, ok},
	{"tpm2_gettime", tpm2.TPMCCGetTime, []uint32{hEndorsement, hTransient}, ok, ok},
	{"tpm2_getcommandauditdigest", tpm2.TPMCCGetCommandAuditDigest, []uint32{hEndorsement, hTransient}, ok, ok},
	{"tpm2_getsessionauditdigest", tpm2.TPMCCGetSessionAuditDigest, []uint32{hEndorsement, hTransient, hPolicySess}, ok, ok},
	{"GetTime with the owner as privacy admin", tpm2.TPMCCGetTime, []uint32{hOwner, hTransient}, hier(1), hier(1)},
	// NV: reads with the owner's authorisation; writes only with the
	// index's own, and not at strict.
	{"tpm2_nvread -C o", tpm2.TPMCCNVRead, []uint32{hOwner, hNVIndex}, ok, ok},
	{"tpm2_nvread", tpm2.TPMCCNVRead, []uint32{hNVIndex, hNVIndex}, ok, ok},
	{"tpm2_nvread -C p", tpm2.TPMCCNVRead, []uint32{hPlatform, hNVIndex}, hier(1), hier(1)},
	{"tpm2_nvreadpublic", tpm2.TPMCCNVReadPublic, []uint32{hNVIndex}, ok, ok},
	{"tpm2_nvcertify -C o", tpm2.TPMCCNVCertify, []uint32{hTransient, hOwner, hNVIndex}, ok, ok},
	{"tpm2_nvwrite", tpm2.TPMCCNVWrite, []uint32{hNVIndex, hNVIndex}, ok, disabled},
	{"tpm2_nvwrite -C o", tpm2.TPMCCNVWrite, []uint32{hOwner, hNVIndex}, hier(1), disabled},
	{"tpm2_nvwrite -C p", tpm2.TPMCCNVWrite, []uint32{hPlatformNV, hNVIndex}, hier(1), disabled},
	{"tpm2_nvincrement", tpm2.TPMCCNVIncrement, []uint32{hNVIndex, hNVIndex}, ok, disabled},
	{"tpm2_nvincrement -C o", tpm2.TPMCCNVIncrement, []uint32{hOwner, hNVIndex}, hier(1), disabled},
	{"tpm2_nvextend", tpm2.TPMCCNVExtend, []uint32{hNVIndex, hNVIndex}, ok, disabled},
	{"tpm2_nvsetbits", tpm2.TPMCCNVSetBits, []uint32{hNVIndex, hNVIndex}, ok, disabled},
	{"tpm2_nvwritelock", tpm2.TPMCCNVWriteLock, []uint32{hNVIndex, hNVIndex}, ok, disabled},
	{"tpm2_nvwritelock -C o", tpm2.TPMCCNVWriteLock, []uint32{hOwner, hNVIndex}, hier(1), disabled},
	{"tpm2_nvreadlock", tpm2.TPMCCNVReadLock, []uint32{hNVIndex, hNVIndex}, ok, disabled},
	{"NV_ChangeAuth", tpm2.TPMCCNVChangeAuth, []uint32{hNVIndex}, ok, disabled},
	{"tpm2_policynv -C o", tpm2.TPMCCPolicyNV, []uint32{hOwner, hNVIndex, hPolicySess}, ok, ok},
	{"tpm2_selftest", tpm2.TPMCCSelfTest, nil, ok, disabled},
	{"tpm2_incrementalselftest", tpm2.TPMCCIncrementalSelfTest, nil, ok, disabled},
	{"tpm2_gettestresult", tpm2.TPMCCGetTestResult, nil, ok, ok},
}

func TestCheckCommandByCommand(t *testing.T) {
	for _, c := range cases {
		for _, lv := range []struct {
			l    Level
			want tpm2.TPMRC
		}{{Standard, c.standard}, {Strict, c.strict}, {Open, ok}} {
			r := Check(lv.l, uint32(c.cc), c.handles)
			if r.RC != lv.want {
				t.Errorf("%s (%s) at %s: rc 0x%x (%s), want 0x%x", c.what, Name(uint32(c.cc)), lv.l, uint32(r.RC), r.Reason, uint32(lv.want))
			}
			if r.Refused() && r.Reason == "" {
				t.Errorf("%s at %s: refused without a reason", c.what, lv.l)
			}
			if r.Refused() != (r.RC != ok) {
				t.Errorf("%s at %s: Refused() = %v with rc 0x%x", c.what, lv.l, r.Refused(), uint32(r.RC))
			}
		}
	}
}

// TestTableIsConsistent: every entry is named and explained, strict
// refuses at least what standard refuses, and no name is used twice.
func TestTableIsConsistent(t *testing.T) {
	names := map[string]uint32{}
	for code, r := range table {
		if r.name == "" || r.why == "" {
			t.Errorf("0x%x: entry without name or reason: %+v", code, r)
		}
		if prev, dup := names[r.name]; dup {
			t.Errorf("name %s used by 0x%x and 0x%x", r.name, prev, code)
		}
		names[r.name] = code
		if r.standard == deny && r.strict == allow {
			t.Errorf("%s: strict allows what standard refuses", r.name)
		}
		if r.standard == deny && r.may != 0 {
			t.Errorf("%s: refused, yet lists hierarchies it may use", r.name)
		}
	}
}

func TestName(t *testing.T) {
	if got := Name(uint32(tpm2.TPMCCClear)); got != "TPM2_CC_Clear" {
		t.Errorf("Name(Clear) = %q", got)
	}
	if got := Name(0x20000123); got != "0x20000123" {
		t.Errorf("Name(vendor) = %q", got)
	}
}

func TestParseLevel(t *testing.T) {
	for i, name := range Levels {
		l, err := ParseLevel(name)
		if err != nil || l != Level(i) || l.String() != name {
			t.Errorf("ParseLevel(%q) = %v, %v", name, l, err)
		}
	}
	for _, bad := range []string{"", "Standard", "none", "strict,"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
	var zero Level
	if zero != Open {
		t.Errorf("the zero Level is %v, want open", zero)
	}
}

// FuzzCheck: any code and handles get a verdict without a panic, open
// refuses nothing, and strict refuses whatever standard refuses.
func FuzzCheck(f *testing.F) {
	f.Add(uint32(tpm2.TPMCCClear), uint32(hLockout), uint32(0), uint8(1))
	f.Add(uint32(tpm2.TPMCCNVWrite), uint32(hNVIndex), uint32(hNVIndex), uint8(2))
	f.Add(uint32(tpm2.TPMCCCreatePrimary), uint32(hPlatform), uint32(0), uint8(1))
	f.Fuzz(func(t *testing.T, cc, h1, h2 uint32, n uint8) {
		handles := []uint32{h1, h2}[:min(int(n), 2)]
		if r := Check(Open, cc, handles); r.Refused() {
			t.Fatalf("open refused 0x%x", cc)
		}
		std, strict := Check(Standard, cc, handles), Check(Strict, cc, handles)
		if std.Refused() && !strict.Refused() {
			t.Fatalf("0x%x %08x: strict allows what standard refuses (%s)", cc, handles, std.Reason)
		}
	})
}

// BenchmarkCheck: the policy's cost per raw command, beside the tens of
// microseconds (swtpm) to seconds (a chip's key generation) a command
// takes in the TPM.
func BenchmarkCheck(b *testing.B) {
	handles := []uint32{hOwner, hNVIndex}
	for b.Loop() {
		if Check(Standard, uint32(tpm2.TPMCCNVRead), handles).Refused() {
			b.Fatal("refused")
		}
	}
}
