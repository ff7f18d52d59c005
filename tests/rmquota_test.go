package tests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
)

// sealWithPCRs seals secret in seal/obj bound to PCRs 0 and 7, so that
// sealing and unsealing each need a session of tpmfs's own.
func sealWithPCRs(t *testing.T, m *mount, obj string, secret []byte) {
	t.Helper()
	if err := os.Mkdir(m.Path("seal", obj), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(m.Path("seal", obj, "pcrs"), []byte("sha256:0,7\n")); err != nil {
		t.Fatalf("pcrs of %s: %v", obj, err)
	}
	if err := writeFile(m.Path("seal", obj, "data"), secret); err != nil {
		t.Fatalf("seal %s: %v", obj, err)
	}
	expectSecret(t, m, obj, secret)
}

// TestTpmrm0MemberQuota: with the default rm_quota=16:4:8 a member that
// holds 16 objects gets TPM_RC_OBJECT_MEMORY for the next, through any of
// its open files, and EMFILE for a ninth open; meanwhile another member
// and tpmfs's own sealing work as before.
func TestTpmrm0MemberQuota(t *testing.T) {
	require(t, "setpriv", "bash", "od", "dd", "tpm2_createprimary", "tpm2_unseal")
	tpm := swtpmtest.Start(t)
	m := groupMount(t, tpm.Source())
	T, dir := tcti(m), workDir(t)

	c := &capture{}
	if _, err := (tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}).Execute(c); !errors.Is(err, errCaptured) {
		t.Fatal(err)
	}
	release := filepath.Join(dir, "release")
	script := rawSend + fmt.Sprintf(`DEV=%s; CMD='%s'
exec 3<>$DEV || exit 1
for i in $(seq 1 17); do echo "create $i $(send "$CMD" 3)"; done
exec 4<>$DEV || exit 1
echo "second $(send "$CMD" 4)"
n=2; for i in $(seq 1 7); do if exec {fd}<>$DEV; then n=$((n+1)); else echo "open refused after $n"; fi; done
echo held
for i in $(seq 1 600); do [ -e %s ] && break; sleep 0.1; done
`, m.Path("tpmrm0"), octal(c.cmd), release)
	holder := startAs(t, member, script)
	holder.waitFor(t, "held")

	// While the member holds all it may, another member works...
	member2.mustTool(t, dir, T, "tpm2_createprimary", "-C", "o", "-c", "other.ctx")
	os.WriteFile(filepath.Join(dir, "secret"), []byte("member2"), 0o644)
	member2.mustTool(t, dir, T, "tpm2_create", "-C", "other.ctx", "-u", "o.pub", "-r", "o.priv", "-i", "secret")
	member2.mustTool(t, dir, T, "tpm2_load", "-C", "other.ctx", "-u", "o.pub", "-r", "o.priv", "-c", "o.ctx")
	if got := member2.mustTool(t, dir, T, "tpm2_unseal", "-c", "o.ctx"); got != "member2" {
		t.Errorf("member2's unseal = %q", got)
	}
	checkGetRandomResponse(t, member2.must(t, rawGetRandomScript(m)))
	// ... and so does tpmfs itself, and root.
	sealWithPCRs(t, m, "beside-quota", []byte("sealed while a member is at its quota"))
	run(t, "tpm2_createprimary", "-T", T, "-C", "o", "-c", filepath.Join(dir, "root.ctx"))

	os.WriteFile(release, nil, 0o644)
	out := holder.wait(t)
	for i := 1; i <= 16; i++ {
		if !strings.Contains(out, fmt.Sprintf("create %d 00000000\n", i)) {
			t.Errorf("object %d within the quota was refused:\n%s", i, out)
		}
	}
	for _, want := range []string{"create 17 000b0902\n", "second 000b0902\n", "open refused after 8\n", syscall.EMFILE.Error()} {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
			t.Errorf("member's script output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "open refused") != 1 {
		t.Errorf("want exactly the ninth open refused:\n%s", out)
	}
	if !hasLogLine(m, "quota of objects", "uid=65532") || !hasLogLine(m, "open refused", "uid=65532") {
		t.Errorf("no log lines for the member's quota:\n%s", m.Stderr())
	}
	// Its files closed, the member has its whole quota again.
	member.mustTool(t, dir, T, "tpm2_createprimary", "-C", "o", "-c", "again.ctx")
}

// TestTpmrm0MemberSessionQuota: tpm2_startauthsession -S leaves a saved
// session behind each time; a member may keep 4 (rm_quota=16:4:8), gets
// TPM_RC_SESSION_MEMORY for the fifth, still loads its own saved ones
// back, and frees them with tpm2_flushcontext --saved-session; another
// member and tpmfs's sealing are not held up meanwhile.
func TestTpmrm0MemberSessionQuota(t *testing.T) {
	require(t, "setpriv", "tpm2_startauthsession", "tpm2_policypcr", "tpm2_flushcontext")
	tpm := swtpmtest.Start(t)
	m := groupMount(t, tpm.Source())
	T, dir := tcti(m), workDir(t)
	for i := 1; i <= 4; i++ {
		member.mustTool(t, dir, T, "tpm2_startauthsession", "--policy-session", "-S", fmt.Sprintf("s%d.ctx", i))
	}
	out, err := member.tool(dir, T, "tpm2_startauthsession", "--policy-session", "-S", "s5.ctx")
	if err == nil || !strings.Contains(out, "out of memory for session contexts") {
		t.Errorf("a fifth saved session: err %v, output:\n%s", err, out)
	}
	member.mustTool(t, dir, T, "tpm2_policypcr", "-S", "s1.ctx", "-l", "sha256:0,7")
	member2.mustTool(t, dir, T, "tpm2_startauthsession", "--policy-session", "-S", "m2.ctx")
	sealWithPCRs(t, m, "beside-sessions", []byte("sealed while a member holds its sessions"))

	member.mustTool(t, dir, T, "tpm2_flushcontext", "--saved-session")
	member.mustTool(t, dir, T, "tpm2_startauthsession", "--policy-session", "-S", "s5.ctx")
	// The other member's session was not the first member's to flush.
	member2.mustTool(t, dir, T, "tpm2_policypcr", "-S", "m2.ctx", "-l", "sha256:0")
	member2.mustTool(t, dir, T, "tpm2_flushcontext", "m2.ctx")
	member.mustTool(t, dir, T, "tpm2_flushcontext", "s5.ctx")
	m.unmount(t)
	if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), "handles-saved-session"); strings.TrimSpace(out) != "" {
		t.Errorf("saved sessions left: %q", out)
	}
}

// TestSealAfterAbandonedSessions is finding 8 of issue 11: raw clients
// start and save sessions until the TPM has none left, then close. One
// open file is stopped at its limit (saved sessions count against it);
// root's eight open files fill the TPM's 64 session handles anyway, and
// sealing and unsealing work right after.
func TestSealAfterAbandonedSessions(t *testing.T) {
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	const perOpen = 8 // rm.MaxSessions
	abandon := func() (saved int, rc tpm2.TPMRC) {
		f, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		raw := transport.FromReadWriter(f)
		for range 64 {
			s, _, err := tpm2.PolicySession(raw, tpm2.TPMAlgSHA256, 16)
			if err != nil {
				if !errors.As(err, &rc) {
					t.Fatalf("session %d: %v", saved, err)
				}
				return saved, rc
			}
			if _, err := (tpm2.ContextSave{SaveHandle: s.Handle()}).Execute(raw); err != nil {
				t.Fatalf("ContextSave %d: %v", saved, err)
			}
			saved++
		}
		return saved, 0
	}
	total := 0
	for open := 0; total < 64; open++ {
		n, rc := abandon()
		if n != perOpen || rc != 0xB0903 {
			t.Fatalf("open file %d saved %d sessions and got rc %#x; want %d, then RM-layer SESSION_MEMORY", open, n, uint32(rc), perOpen)
		}
		total += n
	}
	// The TPM holds all 64 (swtpm's TPM_PT_ACTIVE_SESSIONS_MAX), as root
	// sees them listed.
	f, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	caps, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: 0x03000000, PropertyCount: 128}.Execute(transport.FromReadWriter(f))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if hs, err := caps.CapabilityData.Data.Handles(); err != nil || len(hs.Handle) != 64 {
		t.Fatalf("saved sessions listed: %v (%v), want 64", hs, err)
	}

	sealWithPCRs(t, m, "after-abandoned", []byte("sealed right after 64 abandoned sessions"))
	expectSecret(t, m, "after-abandoned", []byte("sealed right after 64 abandoned sessions"))
	if !m.waitLog("saved by a client and not loaded again") {
		t.Errorf("no log line for the abandoned sessions that were flushed:\n%s", m.Stderr())
	}
}
