package tests

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// TestPermSealedObjectsPrivate: with seal_mode=1777 every user seals
// their own secrets with an ordinary mkdir (umask 022), nobody else can
// read or remove them, root can; owners share on purpose with chmod and
// chgrp; owners and modes survive a remount.
func TestPermSealedObjectsPrivate(t *testing.T) {
	tpm := swtpmtest.Start(t)
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
	sh(t, "rmdir "+obj("gone"))

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
	tpm := swtpmtest.Start(t)
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
