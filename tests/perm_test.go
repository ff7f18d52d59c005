package tests

import (
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	args = append(args, "--", "env", "LC_ALL=C", "sh", "-c", "umask 022; "+script)
	return runErr("setpriv", args...)
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
	uid, gid                         uint32
	pcr, random, seal, device, fixed uint32
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

// logLine returns the first daemon log line that holds every one of subs.
func logLine(m *mount, subs ...string) (string, bool) {
	for _, line := range strings.Split(m.Stderr(), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			return line, true
		}
	}
	return "", false
}

// TestPermDefaultPolicy: with allow_other and no other option, everyone
// reads PCRs, info and random; only root extends, seals and opens tpmrm0;
// chmod and chown of fixed nodes fail and the log names the option.
func TestPermDefaultPolicy(t *testing.T) {
	m := mountShared(t, "sim:", "allow_other", "state="+t.TempDir())
	checkFixedAttrs(t, m, defaultOpts)

	for _, u := range []asUser{nobody, other} {
		if got, want := u.must(t, "cat "+m.Path("info")), sh(t, "cat "+m.Path("info")); got != want || !strings.Contains(got, "family: 2.0") {
			t.Errorf("uid %d: info %q, root reads %q", u.uid, got, want)
		}
		if got := u.must(t, "head -c 4096 "+m.Path("random")+" | wc -c"); strings.TrimSpace(got) != "4096" {
			t.Errorf("uid %d: head -c 4096 random gave %s bytes", u.uid, got)
		}
		before := readPCR(t, m.Path("pcrs", "16"))
		if got := u.must(t, "cat "+m.Path("pcrs", "sha256", "16")); got != before+"\n" {
			t.Errorf("uid %d: pcrs/sha256/16 = %q, root reads %q", u.uid, got, before)
		}
		u.refused(t, syscall.EACCES, "echo event > "+m.Path("pcrs", "16"))
		u.refused(t, syscall.EACCES, "echo "+strings.Repeat("ab", 32)+" > "+m.Path("pcrs", "sha256", "16"))
		if after := readPCR(t, m.Path("pcrs", "16")); after != before {
			t.Errorf("uid %d: a refused extend changed PCR 16", u.uid)
		}
		u.refused(t, syscall.EACCES, "mkdir "+m.Path("seal", "mine"))
		u.refused(t, syscall.EACCES, rawGetRandomScript(m))
		u.refused(t, syscall.EACCES, "cat "+m.Path("tpmrm0"))
		u.refused(t, syscall.EPERM, "chmod 666 "+m.Path("pcrs", "16"))
	}

	// Root may do all of it; the extend is checked against sha256 here.
	before := readPCR(t, m.Path("pcrs", "16"))
	sh(t, "printf 'root event' > "+m.Path("pcrs", "16"))
	if got, want := readPCR(t, m.Path("pcrs", "16")), extended(crypto.SHA256, before, hashOf(crypto.SHA256, []byte("root event"))); got != want {
		t.Errorf("root's event: PCR 16 = %s, want %s", got, want)
	}
	sh(t, "mkdir "+m.Path("seal", "root-owned"))
	checkGetRandomResponse(t, sh(t, rawGetRandomScript(m)))

	// chmod and chown of fixed nodes: EPERM, and the log says which
	// option to use instead.
	options := map[string]string{
		"random": "random_mode=", "pcrs/16": "pcr_mode=", "pcrs/sha256/16": "pcr_mode=",
		"seal": "seal_mode=", "tpmrm0": "device_mode=",
	}
	for _, p := range fixedPaths {
		root.refused(t, syscall.EPERM, "chmod 0777 "+m.Path(p))
		root.refused(t, syscall.EPERM, "chown 1:1 "+m.Path(p))
		logPath := "path=" + p
		if opt, ok := options[p]; ok {
			if _, found := logLine(m, "chmod refused", logPath, opt); !found {
				t.Errorf("no log line for chmod of %s naming %s:\n%s", p, opt, m.Stderr())
			}
		}
		if _, found := logLine(m, "chown refused", logPath, "uid="); !found {
			t.Errorf("no log line for chown of %s naming uid=:\n%s", p, m.Stderr())
		}
	}
	checkFixedAttrs(t, m, defaultOpts)
}

// TestPermWithoutAllowOther: FUSE itself keeps other users out.
func TestPermWithoutAllowOther(t *testing.T) {
	m := mountShared(t, "sim:", "state="+t.TempDir())
	nobody.refused(t, syscall.EACCES, "cat "+m.Path("info"))
	nobody.refused(t, syscall.EACCES, "ls "+m.Path("pcrs"))
	if got := sh(t, "cat "+m.Path("info")); !strings.Contains(got, "family: 2.0") {
		t.Errorf("root reads info %q", got)
	}
}

// TestPermEachOption mounts once per option and checks that it changes
// what it names, and nothing else.
func TestPermEachOption(t *testing.T) {
	require(t, "setpriv")
	cases := []struct {
		opt   string
		want  func(o *fixedOpts)
		check func(t *testing.T, m *mount) // what users may now do
	}{
		{"uid=65533", func(o *fixedOpts) { o.uid = 65533 }, func(t *testing.T, m *mount) {
			other.must(t, "echo owner > "+m.Path("pcrs", "16"))
			checkGetRandomResponse(t, other.must(t, rawGetRandomScript(m)))
			nobody.refused(t, syscall.EACCES, "echo x > "+m.Path("pcrs", "16"))
		}},
		{"gid=65531", func(o *fixedOpts) { o.gid = 65531 }, nil},
		{"pcr_mode=0666", func(o *fixedOpts) { o.pcr = 0o666 }, func(t *testing.T, m *mount) {
			nobody.must(t, "echo anyone > "+m.Path("pcrs", "16"))
			nobody.refused(t, syscall.EACCES, rawGetRandomScript(m))
		}},
		{"random_mode=0400", func(o *fixedOpts) { o.random = 0o400 }, func(t *testing.T, m *mount) {
			nobody.refused(t, syscall.EACCES, "head -c 1 "+m.Path("random"))
			nobody.must(t, "cat "+m.Path("pcrs", "16"))
		}},
		{"seal_mode=1777", func(o *fixedOpts) { o.seal = 0o1777 }, func(t *testing.T, m *mount) {
			nobody.must(t, "mkdir "+m.Path("seal", "mine"))
			nobody.refused(t, syscall.EACCES, "echo x > "+m.Path("pcrs", "16"))
		}},
		{"device_mode=0666", func(o *fixedOpts) { o.device = 0o666 }, func(t *testing.T, m *mount) {
			checkGetRandomResponse(t, nobody.must(t, rawGetRandomScript(m)))
			nobody.refused(t, syscall.EACCES, "echo x > "+m.Path("pcrs", "16"))
		}},
	}
	// Names resolve like numbers, where the system has them.
	if u, err := lookupName("passwd", 65534); err == nil {
		cases = append(cases, struct {
			opt   string
			want  func(o *fixedOpts)
			check func(t *testing.T, m *mount)
		}{"uid=" + u, func(o *fixedOpts) { o.uid = 65534 }, nil})
	}
	if g, err := lookupName("group", 65534); err == nil {
		cases = append(cases, struct {
			opt   string
			want  func(o *fixedOpts)
			check func(t *testing.T, m *mount)
		}{"gid=" + g, func(o *fixedOpts) { o.gid = 65534 }, nil})
	}
	for _, c := range cases {
		t.Run(c.opt, func(t *testing.T) {
			m := mountShared(t, "sim:", "allow_other", "state="+t.TempDir(), c.opt)
			want := defaultOpts
			c.want(&want)
			checkFixedAttrs(t, m, want)
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

// lookupName finds the name of id in /etc/passwd or /etc/group with
// getent, so that the test does not use the code's own lookup.
func lookupName(db string, id int) (string, error) {
	out, err := exec.Command("getent", db, itoa(id)).Output()
	if err != nil {
		return "", err
	}
	name, _, _ := strings.Cut(string(out), ":")
	return name, nil
}

// TestPermGroupExtendsPCR: with gid= and a group-writable pcr_mode=, a
// member of the group extends; others cannot.
func TestPermGroupExtendsPCR(t *testing.T) {
	m := mountShared(t, "sim:", "allow_other", "state="+t.TempDir(), fmt.Sprintf("gid=%d", permGroup), "pcr_mode=0664")
	before := readPCR(t, m.Path("pcrs", "16"))
	member.must(t, "printf 'group event' > "+m.Path("pcrs", "16"))
	want := extended(crypto.SHA256, before, hashOf(crypto.SHA256, []byte("group event")))
	if got := readPCR(t, m.Path("pcrs", "16")); got != want {
		t.Fatalf("member's event: PCR 16 = %s, want %s", got, want)
	}
	digest := hashOf(crypto.SHA256, []byte("digest"))
	member.must(t, fmt.Sprintf("echo %x > %s", digest, m.Path("pcrs", "sha256", "16")))
	want = extended(crypto.SHA256, want, digest)
	if got := readPCR(t, m.Path("pcrs", "sha256", "16")); got != want {
		t.Fatalf("member's digest: PCR 16 = %s, want %s", got, want)
	}
	for _, u := range []asUser{nobody, other} {
		u.refused(t, syscall.EACCES, "printf 'not a member' > "+m.Path("pcrs", "16"))
		u.refused(t, syscall.EACCES, fmt.Sprintf("echo %x > %s", digest, m.Path("pcrs", "sha256", "16")))
		u.must(t, "cat "+m.Path("pcrs", "16"))
	}
	if got := readPCR(t, m.Path("pcrs", "16")); got != want {
		t.Errorf("refused extends changed PCR 16: %s, want %s", got, want)
	}
}

// TestPermSetgidSeal: a setgid seal/ hands its group and the setgid bit
// to new objects, as a directory on disk does.
func TestPermSetgidSeal(t *testing.T) {
	m := mountShared(t, "sim:", "allow_other", "state="+t.TempDir(), "seal_mode=3777", fmt.Sprintf("gid=%d", permGroup))
	nobody.must(t, "mkdir "+m.Path("seal", "x"))
	if got, want := statAttr(t, m.Path("seal", "x")), (attr{syscall.S_IFDIR | 0o2700, nobody.uid32(), permGroup}); got != want {
		t.Errorf("object in a setgid seal/: %v, want %v", got, want)
	}
}

func (u asUser) uid32() uint32 { return uint32(u.uid) }
func (u asUser) gid32() uint32 { return uint32(u.gid) }

// TestPermSealedObjectsPrivate: with seal_mode=1777 every user seals
// their own secrets with an ordinary mkdir (umask 022), nobody else can
// read or remove them, root can; owners share on purpose with chmod and
// chgrp; owners and modes survive a remount.
func TestPermSealedObjectsPrivate(t *testing.T) {
	tpm := startSwtpm(t)
	state := t.TempDir()
	opts := []string{"allow_other", "state=" + state, "seal_mode=1777"}
	m := mountShared(t, tpm.Source(), opts...)
	obj := func(names ...string) string { return m.Path(append([]string{"seal"}, names...)...) }

	// An ordinary mkdir makes a private object.
	nobody.must(t, "mkdir "+obj("n")+" && echo 'nobody secret' > "+obj("n", "data"))
	if got := nobody.must(t, "cat "+obj("n", "data")); got != "nobody secret\n" {
		t.Fatalf("owner reads %q", got)
	}
	private := map[string]uint32{"": syscall.S_IFDIR | 0o700, "data": syscall.S_IFREG | 0o600, "pcrs": syscall.S_IFREG | 0o600, "policy": syscall.S_IFREG | 0o400}
	for f, mode := range private {
		if got, want := statAttr(t, obj("n", f)), (attr{mode, nobody.uid32(), nobody.gid32()}); got != want {
			t.Errorf("seal/n/%s: %v, want %v", f, got, want)
		}
	}
	other.must(t, "mkdir "+obj("o")+" && echo 'other secret' > "+obj("o", "data"))
	// An explicit mode is a decision to share: mkdir(1) applies it.
	nobody.must(t, "mkdir -m 750 "+obj("explicit"))
	if got, want := statAttr(t, obj("explicit")), (attr{syscall.S_IFDIR | 0o750, nobody.uid32(), nobody.gid32()}); got != want {
		t.Errorf("mkdir -m 750: %v, want %v", got, want)
	}

	// Others can neither look in, read, change nor remove it.
	other.refused(t, syscall.EACCES, "ls "+obj("n"))
	other.refused(t, syscall.EACCES, "cat "+obj("n", "data"))
	other.refused(t, syscall.EACCES, "echo overwrite > "+obj("n", "data"))
	other.refused(t, syscall.EPERM, "chmod 777 "+obj("n"))
	other.refused(t, syscall.EPERM, "rmdir "+obj("n"))
	other.refused(t, syscall.EPERM, "mv "+obj("n")+" "+obj("mine"))
	nobody.refused(t, syscall.EACCES, "cat "+obj("o", "data"))
	// The sticky bit of seal/ protects even an object opened to all.
	nobody.must(t, "chmod 777 "+obj("n"))
	other.refused(t, syscall.EPERM, "rmdir "+obj("n"))
	nobody.must(t, "chmod 700 "+obj("n"))
	// Only root gives an object away.
	nobody.refused(t, syscall.EPERM, "chown 65533 "+obj("n"))
	nobody.refused(t, syscall.EPERM, "chgrp 65533 "+obj("n"))
	// Root reads and removes anyone's.
	if got := sh(t, "cat "+obj("o", "data")); got != "other secret\n" {
		t.Errorf("root reads %q", got)
	}
	other.must(t, "mkdir "+obj("gone"))
	sh(t, "rm -r "+obj("gone"))

	// Sharing with a group: chgrp to a group the owner is in, chmod 750.
	member.must(t, fmt.Sprintf("mkdir %[1]s && echo 'group secret' > %[1]s/data && chgrp %[2]d %[1]s && chmod 750 %[1]s", obj("g"), permGroup))
	if got, want := statAttr(t, obj("g", "data")), (attr{syscall.S_IFREG | 0o640, member.uid32(), permGroup}); got != want {
		t.Errorf("shared object's data: %v, want %v", got, want)
	}
	if got := member2.must(t, "cat "+obj("g", "data")); got != "group secret\n" {
		t.Errorf("group member reads %q", got)
	}
	member2.refused(t, syscall.EACCES, "echo overwrite > "+obj("g", "data"))
	nobody.refused(t, syscall.EACCES, "cat "+obj("g", "data"))
	// Root hands an object over.
	sh(t, "chown 65533:65533 "+obj("o")+" && chown 65534:65534 "+obj("o"))
	sh(t, "chown 65533:65533 "+obj("n"))

	want := map[string]attr{
		"n": {syscall.S_IFDIR | 0o700, other.uid32(), other.gid32()},
		"o": {syscall.S_IFDIR | 0o700, nobody.uid32(), nobody.gid32()},
		"g": {syscall.S_IFDIR | 0o750, member.uid32(), permGroup},
	}
	check := func() {
		t.Helper()
		for name, a := range want {
			if got := statAttr(t, obj(name)); got != a {
				t.Errorf("seal/%s: %v, want %v", name, got, a)
			}
		}
		if got := other.must(t, "cat "+obj("n", "data")); got != "nobody secret\n" {
			t.Errorf("new owner reads %q", got)
		}
		nobody.refused(t, syscall.EACCES, "cat "+obj("n", "data"))
		if got := nobody.must(t, "cat "+obj("o", "data")); got != "other secret\n" {
			t.Errorf("new owner reads %q", got)
		}
		other.refused(t, syscall.EACCES, "cat "+obj("o", "data"))
		if got := member2.must(t, "cat "+obj("g", "data")); got != "group secret\n" {
			t.Errorf("group member reads %q", got)
		}
		nobody.refused(t, syscall.EACCES, "cat "+obj("g", "data"))
	}
	check()
	m.unmount(t)
	m = mountShared(t, tpm.Source(), opts...) // obj now names paths in the new mount
	check()
}

// TestPermReadOnly: ro refuses every change with EROFS, and reads work.
func TestPermReadOnly(t *testing.T) {
	tpm := startSwtpm(t)
	state := t.TempDir()
	m := mountTPM(t, tpm.Source(), "state="+state)
	sh(t, "mkdir "+m.Path("seal", "x")+" && echo secret > "+m.Path("seal", "x", "data"))
	m.unmount(t)

	m = mountTPM(t, tpm.Source(), "state="+state, "ro")
	digest := fmt.Sprintf("%x\n", hashOf(crypto.SHA256, []byte("d")))
	writes := map[string]string{
		"pcrs/16": "event", "pcrs/sha256/16": digest, "seal/x/data": "new", "seal/x/pcrs": "sha256:0\n",
	}
	for p, data := range writes {
		if err := os.WriteFile(m.Path(p), []byte(data), 0o644); !isErrno(err, syscall.EROFS) {
			t.Errorf("write %s: %v, want EROFS", p, err)
		}
	}
	for _, flag := range []int{os.O_RDWR, os.O_RDONLY} {
		f, err := os.OpenFile(m.Path("tpmrm0"), flag, 0)
		if err == nil {
			f.Close()
		}
		if !isErrno(err, syscall.EROFS) {
			t.Errorf("open tpmrm0 (flags %#x): %v, want EROFS", flag, err)
		}
	}
	changes := map[string]error{
		"mkdir seal/y":       os.Mkdir(m.Path("seal", "y"), 0o700),
		"rm seal/x/data":     os.Remove(m.Path("seal", "x", "data")),
		"rmdir seal/x":       syscall.Rmdir(m.Path("seal", "x")),
		"chmod seal/x":       os.Chmod(m.Path("seal", "x"), 0o755),
		"chown seal/x":       os.Chown(m.Path("seal", "x"), 1, 1),
		"truncate seal/x/..": os.Truncate(m.Path("seal", "x", "data"), 0),
	}
	for what, err := range changes {
		if !isErrno(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	if got := sh(t, "cat "+m.Path("seal", "x", "data")); got != "secret\n" {
		t.Errorf("unseal on a ro mount: %q", got)
	}
	readPCR(t, m.Path("pcrs", "16"))
	if !strings.Contains(sh(t, "grep ' "+m.Dir+" ' /proc/self/mountinfo"), " ro,") {
		t.Errorf("the kernel does not know the mount is read-only")
	}
}

func isErrno(err error, want syscall.Errno) bool { return errors.Is(err, want) }
