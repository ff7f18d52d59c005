package tests

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// These tests run as root and, through setpriv, as unprivileged users
// that need no /etc/passwd entry. The kernel enforces the modes
// (default_permissions), so each check is what a user's shell sees.
var (
	nobody  = asUser{uid: 65534, gid: 65534}
	other   = asUser{uid: 65533, gid: 65533}                           // a second user with a group of its own
	member  = asUser{uid: 65532, gid: 65532, groups: []int{permGroup}} // in permGroup
	member2 = asUser{uid: 65530, gid: 65530, groups: []int{permGroup}} // also in permGroup
)

// permGroup is a group no test user has as its primary group.
const permGroup = 65531

// asUser is an identity to run shell commands as.
type asUser struct {
	uid, gid int
	groups   []int
}

// sh runs script as u with umask 022 (the ordinary default) in the C
// locale, and returns its output and error.
func (u asUser) sh(script string) (string, error) {
	return runErr("setpriv", append(u.setpriv(), "env", "LC_ALL=C", "sh", "-c", "umask 022; "+script)...)
}

// setpriv is setpriv's arguments, up to "--", that run a command as u.
func (u asUser) setpriv() []string {
	args := []string{fmt.Sprintf("--reuid=%d", u.uid), fmt.Sprintf("--regid=%d", u.gid)}
	if len(u.groups) == 0 {
		args = append(args, "--clear-groups")
	} else {
		var gs []string
		for _, g := range u.groups {
			gs = append(gs, itoa(g))
		}
		args = append(args, "--groups="+strings.Join(gs, ","))
	}
	return append(args, "--")
}

// must runs script as u and fails the test if it fails.
func (u asUser) must(t *testing.T, script string) string {
	t.Helper()
	out, err := u.sh(script)
	if err != nil {
		t.Fatalf("as uid %d: %s: %v\n%s", u.uid, script, err, out)
	}
	return out
}

// refused runs script as u and checks that it fails with the message of
// errno want (Go spells it as the C locale does, but in lower case).
func (u asUser) refused(t *testing.T, want syscall.Errno, script string) {
	t.Helper()
	out, err := u.sh(script)
	if err == nil || !strings.Contains(strings.ToLower(out), want.Error()) {
		t.Errorf("as uid %d: %s: err %v, output %q; want %q", u.uid, script, err, out, want.Error())
	}
}

// root runs as the test itself (root) with the same shell settings.
var root = rootUser{}

type rootUser struct{}

func (rootUser) sh(script string) (string, error) {
	return runErr("env", "LC_ALL=C", "sh", "-c", "umask 022; "+script)
}

func (r rootUser) refused(t *testing.T, want syscall.Errno, script string) {
	t.Helper()
	out, err := r.sh(script)
	if err == nil || !strings.Contains(strings.ToLower(out), want.Error()) {
		t.Errorf("as root: %s: err %v, output %q; want %q", script, err, out, want.Error())
	}
}

// mountShared mounts like mountTPM and lets other users reach the mount
// point: Go creates each test's temporary directory 0700.
func mountShared(t *testing.T, source string, opts ...string) *mount {
	t.Helper()
	require(t, "setpriv")
	m := mountTPM(t, source, opts...)
	if err := os.Chmod(filepath.Dir(m.Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return m
}

// attr is what stat says of a path: type and permission bits, owner.
type attr struct {
	mode     uint32 // S_IFDIR/S_IFREG | 07777
	uid, gid uint32
}

func (a attr) String() string { return fmt.Sprintf("%#o %d:%d", a.mode, a.uid, a.gid) }

func statAttr(t *testing.T, path string) attr {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return attr{mode: st.Mode & (syscall.S_IFMT | 0o7777), uid: st.Uid, gid: st.Gid}
}

// fixedPaths are the fixed nodes, one of each kind, relative to the mount.
var fixedPaths = []string{".", "info", "random", "pcrs", "pcrs/00", "pcrs/16", "pcrs/sha256", "pcrs/sha256/16", "pcrs/sha1/07", "seal", "tpmrm0"}

// fixedOpts is the mount configuration DESIGN.md's table describes.
type fixedOpts struct {
	uid, gid                  uint32
	pcr, random, seal, device uint32
}

var defaultOpts = fixedOpts{pcr: 0o644, random: 0o444, seal: 0o755, device: 0o600}

// want is the attr each fixed path must have under o.
func (o fixedOpts) want(path string) attr {
	a := attr{uid: o.uid, gid: o.gid}
	switch {
	case path == "info":
		a.mode = syscall.S_IFREG | 0o444
	case path == "random":
		a.mode = syscall.S_IFREG | o.random
	case path == "tpmrm0":
		a.mode = syscall.S_IFREG | o.device
	case path == "seal":
		a.mode = syscall.S_IFDIR | o.seal
	case path == "." || path == "pcrs" || path == "pcrs/sha256":
		a.mode = syscall.S_IFDIR | 0o755
	default: // a PCR file
		a.mode = syscall.S_IFREG | o.pcr
	}
	return a
}

func checkFixedAttrs(t *testing.T, m *mount, o fixedOpts) {
	t.Helper()
	for _, p := range fixedPaths {
		if got, want := statAttr(t, m.Path(p)), o.want(p); got != want {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
}

// getRandomCmd is TPM2_GetRandom of 8 bytes, built from the spec (part 3,
// 16.1): tag NO_SESSIONS, size, command code 0x17b, bytesRequested.
var getRandomCmd = []byte{0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 8}

// rawGetRandomScript sends getRandomCmd through tpmrm0 with the shell
// and prints the response in hex.
func rawGetRandomScript(m *mount) string {
	var oct strings.Builder
	for _, b := range getRandomCmd {
		fmt.Fprintf(&oct, "\\%03o", b)
	}
	return fmt.Sprintf(`exec 3<>%s && printf '%s' >&3 && od -An -tx1 -v <&3 | tr -d ' \n'`, m.Path("tpmrm0"), oct.String())
}

// checkGetRandomResponse checks a GetRandom response: success, 8 bytes.
func checkGetRandomResponse(t *testing.T, hexRsp string) {
	t.Helper()
	var rsp []byte
	if _, err := fmt.Sscanf(hexRsp, "%x", &rsp); err != nil || len(rsp) != 20 {
		t.Fatalf("GetRandom response %q: want 20 bytes (%v)", hexRsp, err)
	}
	if size, rc := binary.BigEndian.Uint32(rsp[2:6]), binary.BigEndian.Uint32(rsp[6:10]); size != 20 || rc != 0 || binary.BigEndian.Uint16(rsp[10:12]) != 8 {
		t.Errorf("GetRandom response %x: size %d rc %#x", rsp, size, rc)
	}
}

// hasLogLine reports whether a daemon log line holds every one of subs,
// waiting for it as waitLog does.
func hasLogLine(m *mount, subs ...string) bool {
	return m.waitLogFor(func(log string) bool {
		for _, line := range strings.Split(log, "\n") {
			all := true
			for _, s := range subs {
				all = all && strings.Contains(line, s)
			}
			if all {
				return true
			}
		}
		return false
	})
}
