package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// These tests mount the way admins do: mount(8) and fstab through
// mount.fuse3, mount.fuse3's drop_privileges (/dev/fd/N), a bare
// environment, the systemd unit in contrib/, and syslog for the daemon.

// requireMountHelper skips (or fails under TPMFS_TEST_REQUIRE=1) without
// mount.fuse3, which mount(8) finds in /sbin whatever PATH says.
func requireMountHelper(t *testing.T) {
	t.Helper()
	require(t, "mount", "umount")
	if _, err := os.Stat(mountFuse3()); err != nil {
		swtpmtest.SkipOrFail(t, "mount.fuse3 (package fuse3) is not installed")
	}
}

// requireGroup skips without the group the contrib examples name.
func requireGroup(t *testing.T, name string) uint32 {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		swtpmtest.SkipOrFail(t, "group %s: %v (Debian's tpm-udev creates it)", name, err)
	}
	return uint32(atoi(g.Gid))
}

// mountDir returns a fresh directory that other users can reach.
func mountDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// daemonOf finds the tpmfs process that has marker in one of its
// arguments (each test gives its own state directory), or 0.
func daemonOf(marker string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != "tpmfs" || processGone(atoi(filepath.Base(filepath.Dir(p)))) {
			continue
		}
		if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, marker) }) {
			return atoi(filepath.Base(filepath.Dir(p)))
		}
	}
	return 0
}

// processGone reports whether pid has exited (a zombie counts: its
// parent, mount(8)'s helper, is gone and init may reap it late).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// adminMount is a mount made by a command that returns once it is ready
// (mount(8), mount.fuse3, a daemonising tpmfs): its daemon is found by
// marker. Cleanup unmounts and ends the daemon if a test did not.
type adminMount struct {
	dir, marker string
	pid         int
}

func watchMount(t *testing.T, dir, marker string) *adminMount {
	t.Helper()
	a := &adminMount{dir: dir, marker: marker}
	t.Cleanup(func() {
		if isMounted(dir) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		if a.pid != 0 && !processGone(a.pid) {
			syscall.Kill(a.pid, syscall.SIGKILL)
		}
	})
	if !isMounted(dir) {
		t.Fatalf("%s is not mounted", dir)
	}
	if a.pid = daemonOf(marker); a.pid == 0 {
		t.Fatalf("no tpmfs daemon with %q in its arguments", marker)
	}
	return a
}

// umount unmounts with umount(8) and checks that the daemon then exits.
func (a *adminMount) umount(t *testing.T) {
	t.Helper()
	run(t, "umount", a.dir)
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(a.pid) {
		if time.Now().After(deadline) {
			t.Fatalf("tpmfs pid %d still runs 10s after umount", a.pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if isMounted(a.dir) {
		t.Errorf("%s still mounted after umount", a.dir)
	}
}

// mountFields returns the mount options and file system type of dir's
// mount from /proc/self/mountinfo.
func mountFields(t *testing.T, dir string) (opts, fstype, source, superOpts string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || unescapeMount(fields[4]) != dir {
			continue
		}
		i := slices.Index(fields, "-")
		return fields[5], fields[i+1], fields[i+2], fields[i+3]
	}
	t.Fatalf("%s not in mountinfo", dir)
	return
}

// checkServes checks that the mount answers and enforces its modes for
// another user (allow_other is set in every mount here).
func checkServes(t *testing.T, dir string) {
	t.Helper()
	if got := nobody.must(t, "cat "+dir+"/info"); !strings.Contains(got, "family: 2.0") {
		t.Errorf("info through %s: %q", dir, got)
	}
	nobody.refused(t, syscall.EACCES, "echo x > "+dir+"/pcrs/16")
}

// mountFuse3 is the path of mount.fuse3.
func mountFuse3() string {
	if _, err := os.Stat("/sbin/mount.fuse3"); err == nil {
		return "/sbin/mount.fuse3"
	}
	return "/usr/sbin/mount.fuse3"
}

// TestMountCommand: mount -t fuse./abs/path/tpmfs, then umount; and
// -t fuse.tpmfs, which mount.fuse3 runs from PATH. (mount(8) gives its
// helpers a fixed PATH, so that form is tested on mount.fuse3 itself,
// with this build's directory in PATH.)
