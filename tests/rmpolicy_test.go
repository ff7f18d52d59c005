package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// pcrFromTool reads PCR idx from tpm2_pcrread's output.
func pcrFromTool(t *testing.T, out string, idx int) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, fmt.Sprintf("%d", idx)) && strings.Contains(line, ":") {
			v := strings.TrimSpace(line[strings.Index(line, ":")+1:])
			return strings.ToLower(strings.TrimPrefix(v, "0x"))
		}
	}
	t.Fatalf("tpm2_pcrread output without PCR %d:\n%s", idx, out)
	return ""
}

// TestTpmrm0GroupMemberUsesTools: with device_mode=0660,gid=GROUP a member
// of the group runs tpm2-tools and systemd-creds through the mount, under
// the default rm_policy=standard: random, PCRs, sealing, signing (checked
// by openssl), credentials.
func TestTpmrm0GroupMemberUsesTools(t *testing.T) {
	require(t, "setpriv", "bash", "tpm2_createprimary", "tpm2_create", "tpm2_load", "tpm2_unseal", "tpm2_sign",
		"tpm2_readpublic", "tpm2_getrandom", "tpm2_pcrread", "openssl", "systemd-creds")
	tpm := swtpmtest.Start(t)
	m := groupMount(t, tpm.Source())
	T, dir := tcti(m), workDir(t)
	f := func(n string) string { return filepath.Join(dir, n) }

	if out := member.mustTool(t, dir, T, "tpm2_getrandom", "--hex", "16"); len(strings.TrimSpace(out)) != 32 {
		t.Errorf("tpm2_getrandom --hex 16 = %q", out)
	}
	sh(t, "echo measured > "+m.Path("pcrs", "16"))
	if got, want := pcrFromTool(t, member.mustTool(t, dir, T, "tpm2_pcrread", "sha256:16"), 16), readPCR(t, m.Path("pcrs", "sha256", "16")); got != want {
		t.Errorf("member's tpm2_pcrread = %s, cat = %s", got, want)
	}

	secret := "a group member's secret"
	if err := os.WriteFile(f("secret"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	member.mustTool(t, dir, T, "tpm2_createprimary", "-C", "o", "-c", "primary.ctx")
	member.mustTool(t, dir, T, "tpm2_create", "-C", "primary.ctx", "-u", "s.pub", "-r", "s.priv", "-i", "secret")
	member.mustTool(t, dir, T, "tpm2_load", "-C", "primary.ctx", "-u", "s.pub", "-r", "s.priv", "-c", "s.ctx")
	if got := member.mustTool(t, dir, T, "tpm2_unseal", "-c", "s.ctx"); got != secret {
		t.Errorf("member's tpm2_unseal = %q, want %q", got, secret)
	}

	// A signature that openssl verifies with the key's public part.
	if err := os.WriteFile(f("msg"), []byte("signed by a member"), 0o644); err != nil {
		t.Fatal(err)
	}
	member.mustTool(t, dir, T, "tpm2_create", "-C", "primary.ctx", "-G", "ecc256", "-u", "k.pub", "-r", "k.priv")
	member.mustTool(t, dir, T, "tpm2_load", "-C", "primary.ctx", "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx")
	member.mustTool(t, dir, T, "tpm2_readpublic", "-c", "k.ctx", "-f", "pem", "-o", "k.pem")
	member.mustTool(t, dir, T, "tpm2_sign", "-c", "k.ctx", "-g", "sha256", "-f", "plain", "-o", "sig.der", "msg")
	if out := run(t, "openssl", "dgst", "-sha256", "-verify", f("k.pem"), "-signature", f("sig.der"), f("msg")); !strings.Contains(out, "Verified OK") {
		t.Errorf("openssl does not verify the member's signature: %s", out)
	}

	// systemd-creds, as a user service would use it.
	creds := fmt.Sprintf("printf 'credential text' | systemd-creds encrypt --tpm2-device=%s --with-key=tpm2 --name=test - %s && systemd-creds decrypt --tpm2-device=%s --name=test %s -",
		m.Path("tpmrm0"), f("test.cred"), m.Path("tpmrm0"), f("test.cred"))
	if out := member.must(t, creds); !strings.HasSuffix(out, "credential text") {
		t.Errorf("systemd-creds round trip as a member: %q", out)
	}

	m.unmount(t)
	for _, kind := range []string{"handles-transient", "handles-loaded-session", "handles-saved-session"} {
		if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), kind); strings.TrimSpace(out) != "" {
			t.Errorf("%s left in the TPM after unmount: %q", kind, out)
		}
	}
}

// tpmState is what the refused commands would change, read straight
// from the swtpm (after unmount) with tpm2-tools.
type tpmState struct {
	persistent, nv string
	ownerAuthSet   bool
	lockoutCount   string
}

func readTPMState(t *testing.T, tcti string) tpmState {
	t.Helper()
	var s tpmState
	s.persistent = strings.TrimSpace(run(t, "tpm2_getcap", "-T", tcti, "handles-persistent"))
	s.nv = strings.TrimSpace(run(t, "tpm2_getcap", "-T", tcti, "handles-nv-index"))
	for _, line := range strings.Split(run(t, "tpm2_getcap", "-T", tcti, "properties-variable"), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "ownerAuthSet:":
			s.ownerAuthSet = f[1] == "1"
		case len(f) == 2 && f[0] == "TPM2_PT_LOCKOUT_COUNTER:":
			s.lockoutCount = f[1]
		}
	}
	return s
}

// TestTpmrm0GroupMemberRefusedChangesNothing: what would change or deny
// the TPM for others fails for a member with the resource manager's
// error and a log line naming uid and command, and changes nothing (read
// from the swtpm itself after unmount); root, on the same mount options,
// still does all of it.
func TestTpmrm0GroupMemberRefusedChangesNothing(t *testing.T) {
	require(t, "setpriv", "tpm2_clear", "tpm2_changeauth", "tpm2_dictionarylockout", "tpm2_evictcontrol", "tpm2_nvdefine", "tpm2_nvundefine", "tpm2_getcap")
	tpm := swtpmtest.Start(t)
	dir := workDir(t)
	f := func(n string) string { return filepath.Join(dir, n) }

	// Root sets the scene through the mount: a persistent SRK, an NV
	// index, and one dictionary-attack failure on the counter.
	m := groupMount(t, tpm.Source())
	T := tcti(m)
	run(t, "tpm2_createprimary", "-T", T, "-C", "o", "-c", f("srk.ctx"))
	run(t, "tpm2_evictcontrol", "-T", T, "-C", "o", "-c", f("srk.ctx"), "0x81000001")
	run(t, "tpm2_nvdefine", "-T", T, "0x1500016", "-C", "o", "-s", "32", "-a", "ownerread|ownerwrite|authread|authwrite")
	os.WriteFile(f("secret"), []byte("da"), 0o644)
	run(t, "tpm2_create", "-T", T, "-C", "0x81000001", "-p", "right", "-u", f("d.pub"), "-r", f("d.priv"), "-i", f("secret"))
	run(t, "tpm2_load", "-T", T, "-C", "0x81000001", "-u", f("d.pub"), "-r", f("d.priv"), "-c", f("d.ctx"))
	if out, err := runErr("tpm2_unseal", "-T", T, "-c", f("d.ctx"), "-p", "wrong"); err == nil {
		t.Fatalf("unseal with a wrong password worked: %s", out)
	}

	member.mustTool(t, dir, T, "tpm2_createprimary", "-C", "o", "-c", "mine.ctx")
	refused := []struct {
		cc   string
		tool []string
	}{
		{"TPM2_CC_Clear", []string{"tpm2_clear"}},
		{"TPM2_CC_HierarchyChangeAuth", []string{"tpm2_changeauth", "-c", "owner", "stolen"}},
		{"TPM2_CC_DictionaryAttackLockReset", []string{"tpm2_dictionarylockout", "-c"}},
		{"TPM2_CC_EvictControl", []string{"tpm2_evictcontrol", "-C", "o", "-c", "0x81000001"}},
		{"TPM2_CC_EvictControl", []string{"tpm2_evictcontrol", "-C", "o", "-c", "mine.ctx", "0x81000002"}},
		{"TPM2_CC_NV_UndefineSpace", []string{"tpm2_nvundefine", "0x1500016"}},
	}
	for _, r := range refused {
		member.refusedTool(t, dir, T, r.tool[0], r.tool[1:]...)
		if !hasLogLine(m, "command refused", "uid=65532", "command="+r.cc) {
			t.Errorf("no log line naming uid 65532 and %s:\n%s", r.cc, m.Stderr())
		}
	}
	m.unmount(t)
	want := tpmState{persistent: "- 0x81000001", nv: "- 0x1500016", ownerAuthSet: false, lockoutCount: "0x1"}
	if got := readTPMState(t, tpm.TCTI()); got != want {
		t.Errorf("the TPM after a member's refused commands: %+v, want %+v", got, want)
	}

	// Root may, through the same mount options.
	m = groupMount(t, tpm.Source())
	T = tcti(m)
	run(t, "tpm2_dictionarylockout", "-T", T, "-c")
	run(t, "tpm2_nvundefine", "-T", T, "0x1500016")
	run(t, "tpm2_evictcontrol", "-T", T, "-C", "o", "-c", "0x81000001")
	run(t, "tpm2_changeauth", "-T", T, "-c", "owner", "newowner")
	m.unmount(t)
	want = tpmState{ownerAuthSet: true, lockoutCount: "0x0"}
	if got := readTPMState(t, tpm.TCTI()); got != want {
		t.Errorf("the TPM after root's commands: %+v, want %+v", got, want)
	}
	m = groupMount(t, tpm.Source())
	run(t, "tpm2_clear", "-T", tcti(m))
	m.unmount(t)
	if got := readTPMState(t, tpm.TCTI()); got.ownerAuthSet {
		t.Errorf("owner auth still set after root's tpm2_clear: %+v", got)
	}
}

// TestTpmrm0PolicyLevels: strict also refuses NV writes a member holds
// the index's secret for; standard lets them through; open refuses
// nothing (a member may even undefine the index).
func TestTpmrm0PolicyLevels(t *testing.T) {
	require(t, "setpriv", "tpm2_nvdefine", "tpm2_nvwrite", "tpm2_nvundefine", "tpm2_nvread")
	dir := workDir(t)
	os.WriteFile(filepath.Join(dir, "data"), []byte("nvdata"), 0o644)
	for _, level := range []string{"strict", "standard", "open"} {
		t.Run(level, func(t *testing.T) {
			m := groupMount(t, "sim:", "rm_policy="+level)
			T := tcti(m)
			run(t, "tpm2_nvdefine", "-T", T, "0x1500017", "-C", "o", "-s", "6", "-a", "ownerread|ownerwrite|authread|authwrite", "-p", "idx")
			write := []string{"0x1500017", "-C", "0x1500017", "-P", "idx", "-i", "data"}
			if level == "strict" {
				member.refusedTool(t, dir, T, "tpm2_nvwrite", write...)
			} else {
				member.mustTool(t, dir, T, "tpm2_nvwrite", write...)
				if got := run(t, "tpm2_nvread", "-T", T, "0x1500017", "-C", "o", "-s", "6"); got != "nvdata" {
					t.Errorf("NV index after the member's write: %q", got)
				}
			}
			if level == "open" {
				member.mustTool(t, dir, T, "tpm2_nvundefine", "0x1500017")
			} else {
				member.refusedTool(t, dir, T, "tpm2_nvundefine", "0x1500017")
			}
		})
	}
}
