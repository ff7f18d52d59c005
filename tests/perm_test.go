package tests

import (
	"crypto"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

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
			if !hasLogLine(m, "chmod refused", logPath, opt) {
				t.Errorf("no log line for chmod of %s naming %s:\n%s", p, opt, m.Stderr())
			}
		}
		if !hasLogLine(m, "chown refused", logPath, "uid=") {
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
