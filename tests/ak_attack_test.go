package tests

import (
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// TestAKAttacks: attestation keys as two users and hostile clients see
// them. A user's key is private to them; a descriptor outlives neither
// its key nor reaches the key that takes its name; a shell's > on the
// transaction files does no harm and leaks nothing to a later open;
// hostile requests fail cleanly and the key keeps working; keys share
// sealed objects' quota but not their names.
func TestAKAttacks(t *testing.T) {
	require(t, "setpriv")
	tpm := swtpmtest.Start(t)
	m := mountShared(t, tpm.Source(), "allow_other", "ak_mode=1777", "seal_mode=1777", "seal_quota=2:1K")
	ak := func(names ...string) string { return m.Path(append([]string{"ak"}, names...)...) }
	nobody.must(t, "mkdir "+ak("n"))
	other.must(t, "mkdir "+ak("o"))
	// Two users: each key is its creator's.
	for _, f := range []string{"public.pem", "name", "quote", "type"} {
		other.refused(t, syscall.EACCES, "cat "+ak("n", f))
	}
	other.refused(t, syscall.EACCES, quoteScript(ak("n", "quote"), "sha256:0 nonce=00"))
	other.refused(t, syscall.EACCES, "echo rsa > "+ak("n", "type"))
	other.refused(t, syscall.EPERM, "rmdir "+ak("n"))
	other.refused(t, syscall.EPERM, "chmod 777 "+ak("n"))
	if got := statAttr(t, ak("n")); got != (attr{syscall.S_IFDIR | 0o700, nobody.uid32(), nobody.gid32()}) {
		t.Errorf("nobody's key: %v", got)
	}
	parseQuote(t, sh(t, quoteScript(ak("n", "quote"), "sha256:0 nonce=00"))) // root uses anyone's

	// A descriptor across rmdir and mkdir of the name.
	out, err := nobody.sh("exec 3<>" + ak("n", "quote") + " && rmdir " + ak("n") + " && mkdir " + ak("n") +
		" && /bin/echo 'sha256:0 nonce=00' >&3")
	if err == nil || !strings.Contains(out, "Stale file handle") {
		t.Errorf("quote through a descriptor of the removed key: %v %q", err, out)
	}
	// A shell's >: the request runs, its answer goes nowhere, and a new
	// open starts empty.
	nobody.must(t, "echo 'sha256:0-7 nonce=0102' > "+ak("n", "quote"))
	if got := nobody.must(t, "cat "+ak("n", "quote")); got != "" {
		t.Errorf("a fresh open of quote reads %q", got)
	}
	nobody.refused(t, syscall.EINVAL, "/usr/bin/printf 'not a credential file' > "+ak("n", "activate"))
	// Hostile requests: each refused at its write, the key still quotes.
	for _, req := range []string{
		`printf '\377\376\0\n'`, "head -c 100000 /dev/zero", "yes sha256:0 | head -c 9000",
		"/bin/echo 'sha256:0 nonce=" + strings.Repeat("ff", 100) + "'", "/bin/echo 'sha999:0'",
		"/bin/echo 'sha256:0 nonce=00 sha1:0'", "printf 'sha256:0\\nsha1:0\\n'",
	} {
		if out, err := nobody.sh("exec 3<>" + ak("n", "quote") + " && " + req + " >&3"); err == nil {
			t.Errorf("request %s accepted: %q", req, out)
		}
	}
	if q := parseQuote(t, nobody.must(t, quoteScript(ak("n", "quote"), "sha256:0 nonce=ab"))); q.Nonce != "ab" {
		t.Errorf("after hostile requests: %+v", q)
	}
	// Names: a sealed object and a key may share one; they count as two
	// objects of the quota.
	nobody.must(t, "mkdir "+m.Path("seal", "n"))
	nobody.refused(t, syscall.EDQUOT, "mkdir "+ak("n2"))
	nobody.refused(t, syscall.EDQUOT, "mkdir "+m.Path("seal", "n2"))
	nobody.must(t, "rmdir "+ak("n")+" && mkdir "+ak("n2"))
}
