package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// TestTpmrm0MembersCannotLockOutTheTPM: a group member guessing the
// password of its own object gets one failure from the TPM, then the
// resource manager's refusal; a second member as well, until the
// members' part of the dictionary-attack counter is spent. The TPM never
// reaches lockout (read on the swtpm itself after unmount), and root's
// password-protected object opens all along.
func TestTpmrm0MembersCannotLockOutTheTPM(t *testing.T) {
	require(t, "setpriv", "bash", "tpm2_createprimary", "tpm2_create", "tpm2_load", "tpm2_unseal", "tpm2_getcap")
	tpm := swtpmtest.Start(t)
	m := groupMount(t, tpm.Source())
	T, dir := tcti(m), workDir(t)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644)
	mk := func(u interface {
		mustTool(*testing.T, string, string, string, ...string) string
	}, prefix, pw string) {
		u.mustTool(t, dir, T, "tpm2_createprimary", "-C", "o", "-c", prefix+"p.ctx")
		u.mustTool(t, dir, T, "tpm2_create", "-C", prefix+"p.ctx", "-p", pw, "-u", prefix+".pub", "-r", prefix+".priv", "-i", "secret")
	}
	mk(member, "m1", "right")
	mk(member2, "m2", "right")
	unseal := func(u asUser, prefix, pw string) (string, error) {
		return u.sh("cd " + dir + " && tpm2_load -T " + T + " -C " + prefix + "p.ctx -u " + prefix + ".pub -r " + prefix + ".priv -c " + prefix + ".ctx >/dev/null && " +
			"tpm2_unseal -T " + T + " -c " + prefix + ".ctx -p " + pw)
	}
	for _, try := range []struct {
		u      asUser
		prefix string
		want   string // a word of tpm2-tools' message
	}{
		{member, "m1", "da counter incremented"},
		{member, "m1", "lockout"},
		{member2, "m2", "da counter incremented"},
		{member2, "m2", "lockout"},
	} {
		out, err := unseal(try.u, try.prefix, "wrong")
		if err == nil || !strings.Contains(strings.ToLower(out), try.want) {
			t.Errorf("uid %d guessing: %v\n%s\nwant %q", try.u.uid, err, out, try.want)
		}
	}
	// Root's own object, protected by the dictionary-attack logic too.
	run(t, "tpm2_createprimary", "-T", T, "-C", "o", "-c", filepath.Join(dir, "rp.ctx"))
	run(t, "tpm2_create", "-T", T, "-C", filepath.Join(dir, "rp.ctx"), "-p", "root", "-u", filepath.Join(dir, "r.pub"), "-r", filepath.Join(dir, "r.priv"), "-i", filepath.Join(dir, "secret"))
	run(t, "tpm2_load", "-T", T, "-C", filepath.Join(dir, "rp.ctx"), "-u", filepath.Join(dir, "r.pub"), "-r", filepath.Join(dir, "r.priv"), "-c", filepath.Join(dir, "r.ctx"))
	if got := run(t, "tpm2_unseal", "-T", T, "-c", filepath.Join(dir, "r.ctx"), "-p", "root"); got != "secret" {
		t.Errorf("root's unseal after the members' guesses: %q", got)
	}
	if !m.waitLog("dictionary-attack") {
		t.Errorf("no log line for the refusals:\n%s", m.Stderr())
	}
	m.unmount(t)
	st := readTPMState(t, tpm.TCTI())
	if st.lockoutCount == "" || st.lockoutCount == "3" {
		t.Errorf("the TPM's lockout counter is %q after the members' guesses (its limit is 3)", st.lockoutCount)
	}
	if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), "properties-variable"); !strings.Contains(out, "inLockout:                 0") && !strings.Contains(out, "inLockout: 0") {
		t.Errorf("the TPM is in lockout:\n%s", out)
	}
}
