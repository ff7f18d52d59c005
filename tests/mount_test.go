package tests

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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
		skipOrFailf(t, "mount.fuse3 (package fuse3) is not installed")
	}
}

func skipOrFailf(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("TPMFS_TEST_REQUIRE") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// requireGroup skips without the group the contrib examples name.
func requireGroup(t *testing.T, name string) uint32 {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		skipOrFailf(t, "group %s: %v (Debian's tpm-udev creates it)", name, err)
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
func TestMountCommand(t *testing.T) {
	requireMountHelper(t)
	require(t, "setpriv")
	for _, c := range []struct {
		name string
		argv func(dir, opts string) []string
	}{
		{"mount -t fuse./abs/path", func(dir, opts string) []string {
			return []string{"mount", "-t", "fuse." + tpmfsBin, "sim:", dir, "-o", opts}
		}},
		{"mount.fuse3 -t fuse.tpmfs", func(dir, opts string) []string {
			return []string{mountFuse3(), "sim:", dir, "-t", "fuse.tpmfs", "-o", "rw," + opts}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, state := mountDir(t), t.TempDir()
			argv := c.argv(dir, "allow_other,state="+state)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(tpmfsBin)+":"+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
			a := watchMount(t, dir, state)
			opts, typ, source, _ := mountFields(t, dir)
			if typ != "fuse.tpmfs" || source != "sim:" {
				t.Errorf("mountinfo: type %s source %s, want fuse.tpmfs sim:", typ, source)
			}
			// mount.fuse3 passes dev,suid; the mount stays nodev,nosuid.
			for _, o := range []string{"nosuid", "nodev"} {
				if !slices.Contains(strings.Split(opts, ","), o) {
					t.Errorf("mount options %s lack %s", opts, o)
				}
			}
			checkServes(t, dir)
			a.umount(t)
		})
	}
}

// fstabLine is one line of an fstab; the fields are split on blanks.
type fstabLine []string

// exampleFstab is contrib/fstab.example's entry.
func exampleFstab(t *testing.T) fstabLine {
	t.Helper()
	b, err := os.ReadFile("../contrib/fstab.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 6 && !strings.HasPrefix(f[0], "#") {
			return f
		}
	}
	t.Fatal("contrib/fstab.example has no fstab entry")
	return nil
}

// TestMountFstab mounts contrib/fstab.example's entry, and one with every
// option mount(8), mount.fuse3 and fstab writers add, with mount -T.
func TestMountFstab(t *testing.T) {
	requireMountHelper(t)
	require(t, "setpriv")
	tss := requireGroup(t, "tss")
	ex := exampleFstab(t)
	if ex[0] != "/dev/tpmrm0" || ex[1] != "/var/tpm" || ex[2] != "fuse.tpmfs" {
		t.Errorf("example entry %v: want /dev/tpmrm0 on /var/tpm, type fuse.tpmfs", ex)
	}
	compat := "rw,defaults,dev,suid,exec,nodev,nosuid,noexec,auto,noauto,nofail,_netdev,users,noatime,relatime,x-systemd.automount,x-systemd.device-timeout=10s,X-mount.mkdir,comment=tpmfs,allow_other"
	for _, c := range []struct {
		name, opts string
		check      func(t *testing.T, dir string)
	}{
		{"example", ex[3], func(t *testing.T, dir string) {
			// What the example's comment promises.
			if got, want := statAttr(t, dir+"/pcrs/16"), (attr{syscall.S_IFREG | 0o664, 0, tss}); got != want {
				t.Errorf("pcrs/16: %v, want %v", got, want)
			}
			if got, want := statAttr(t, dir+"/seal"), (attr{syscall.S_IFDIR | 0o1777, 0, tss}); got != want {
				t.Errorf("seal: %v, want %v", got, want)
			}
			nobody.must(t, "mkdir "+dir+"/seal/mine")
		}},
		{"compat", compat, func(t *testing.T, dir string) {
			opts, _, _, _ := mountFields(t, dir)
			for _, o := range []string{"nosuid", "nodev", "noexec"} {
				if !slices.Contains(strings.Split(opts, ","), o) {
					t.Errorf("mount options %s lack %s", opts, o)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A mount point that does not exist yet: X-mount.mkdir makes it.
			dir, state := filepath.Join(mountDir(t), "tpm"), t.TempDir()
			fstab := filepath.Join(t.TempDir(), "fstab")
			line := fmt.Sprintf("# test\nsim: %s fuse.%s %s,state=%s 0 0\n", dir, tpmfsBin, c.opts, state)
			if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := runErr("mount", "-T", fstab, dir); err != nil {
				t.Fatalf("mount -T %s %s: %v\n%s\n%s", fstab, dir, err, out, line)
			}
			a := watchMount(t, dir, state)
			checkServes(t, dir)
			c.check(t, dir)
			a.umount(t)
		})
	}
}

// TestMountFuseFD: mount.fuse3 -o drop_privileges mounts itself and runs
// tpmfs without capabilities on /dev/fd/N. tpmfs needs the kernel's
// permission checks, so it refuses such a mount without
// default_permissions.
func TestMountFuseFD(t *testing.T) {
	requireMountHelper(t)
	require(t, "setpriv")
	dir, state := mountDir(t), t.TempDir()
	out, err := runErr(mountFuse3(), tpmfsBin+"#sim:", dir, "-o", "drop_privileges,default_permissions,allow_other,nosuid,nodev,state="+state)
	if err != nil {
		t.Fatalf("mount.fuse3 drop_privileges: %v\n%s", err, out)
	}
	a := watchMount(t, dir, state)
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", a.pid))
	if !strings.Contains(string(cmdline), "/dev/fd/") {
		t.Errorf("tpmfs runs as %q, want a /dev/fd/N mount point", cmdline)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.pid)); err != nil || !strings.Contains(string(st), "CapEff:\t0000000000000000") {
		t.Errorf("tpmfs has capabilities under drop_privileges:\n%s", st)
	}
	checkServes(t, dir)
	a.umount(t)

	// Without default_permissions: refused, with the reason.
	dir, state = mountDir(t), t.TempDir()
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	out, err = runErr(mountFuse3(), tpmfsBin+"#sim:", dir, "-o", "drop_privileges,allow_other,state="+state)
	if err == nil || !strings.Contains(out, "default_permissions") {
		t.Errorf("mount.fuse3 drop_privileges without default_permissions: err %v, output %q; want a refusal naming default_permissions", err, out)
	}
	if pid := daemonOf(state); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("tpmfs pid %d serves a mount without default_permissions", pid)
	}
}

// TestMountBareEnvironment starts tpmfs as some init systems do: no PATH
// and fds 0-2 closed, daemonised and in the foreground.
func TestMountBareEnvironment(t *testing.T) {
	require(t, "setpriv")
	for _, fg := range []bool{false, true} {
		t.Run(fmt.Sprintf("foreground=%v", fg), func(t *testing.T) {
			dir, state := mountDir(t), t.TempDir()
			argv := []string{"tpmfs", "sim:", dir, "-o", "allow_other,state=" + state}
			if fg {
				argv = slices.Insert(argv, 1, "-f")
			}
			p, err := os.StartProcess(tpmfsBin, argv, &os.ProcAttr{Env: []string{"PATH="}, Files: []*os.File{nil, nil, nil}})
			if err != nil {
				t.Fatal(err)
			}
			exited := make(chan *os.ProcessState, 1)
			go func() { st, _ := p.Wait(); exited <- st }()
			t.Cleanup(func() {
				if isMounted(dir) {
					syscall.Unmount(dir, syscall.MNT_DETACH)
				}
				p.Kill() // by pid; nothing if it exited
			})
			if !fg {
				// The parent returns only once the mount is ready.
				select {
				case st := <-exited:
					if !st.Success() || !isMounted(dir) {
						t.Fatalf("daemonising parent exited %v, mounted: %v", st, isMounted(dir))
					}
				case <-time.After(time.Minute):
					t.Fatal("daemonising parent still runs after a minute")
				}
				a := watchMount(t, dir, state)
				checkServes(t, dir)
				a.umount(t)
				return
			}
			deadline := time.After(30 * time.Second)
			for !isMounted(dir) {
				select {
				case st := <-exited:
					t.Fatalf("tpmfs -f exited (%v) without mounting", st)
				case <-deadline:
					t.Fatal("no mount within 30s")
				case <-time.After(10 * time.Millisecond):
				}
			}
			checkServes(t, dir)
			run(t, "umount", dir)
			select {
			case st := <-exited:
				if !st.Success() {
					t.Errorf("tpmfs -f exited %v after umount", st)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("tpmfs -f still runs 10s after umount")
			}
		})
	}
}

// unitValue returns the value of key in a systemd unit's text.
func unitValue(unit, key string) string {
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestMountSystemdUnit checks contrib/tpmfs.service with systemd-analyze
// and runs its ExecStart as systemd would for Type=notify: READY=1 must
// come once the mount is there, and SIGTERM unmounts.
func TestMountSystemdUnit(t *testing.T) {
	require(t, "setpriv")
	requireGroup(t, "tss")
	b, err := os.ReadFile("../contrib/tpmfs.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for key, want := range map[string]string{"Type": "notify", "BindsTo": "dev-tpmrm0.device", "After": "dev-tpmrm0.device"} {
		if got := unitValue(unit, key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	exec0 := strings.Fields(unitValue(unit, "ExecStart"))
	if len(exec0) < 4 || !slices.Contains(exec0, "/dev/tpmrm0") || !slices.Contains(exec0, "/var/tpm") {
		t.Fatalf("ExecStart=%v: want tpmfs on /dev/tpmrm0 at /var/tpm", exec0)
	}
	// The unit with this build's binary, as systemd-analyze checks that
	// the programs exist.
	local := strings.ReplaceAll(unit, exec0[0], tpmfsBin)
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		path := filepath.Join(t.TempDir(), "tpmfs.service")
		os.WriteFile(path, []byte(local), 0o644)
		if out, err := runErr("systemd-analyze", "verify", path); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	dir, state := mountDir(t), t.TempDir()
	args := slices.Clone(exec0[1:])
	for i, a := range args {
		switch {
		case a == "/dev/tpmrm0":
			args[i] = "sim:"
		case a == "/var/tpm":
			args[i] = dir
		case i > 0 && args[i-1] == "-o":
			args[i] = a + ",state=" + state // StateDirectory= is the real one
		}
	}
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tpmfsBin, args...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopProcess(cmd)
		if isMounted(dir) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	await := func(state string) {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := conn.Read(buf)
		if err != nil || string(buf[:n]) != state {
			t.Fatalf("notification %q, %v; want %s", buf[:n], err, state)
		}
	}
	await("READY=1")
	if !isMounted(dir) {
		t.Fatal("READY=1 before the mount")
	}
	checkServes(t, dir)
	cmd.Process.Signal(syscall.SIGTERM)
	await("STOPPING=1")
	if err := cmd.Wait(); err != nil {
		t.Errorf("tpmfs after SIGTERM: %v", err)
	}
	if isMounted(dir) {
		t.Error("still mounted after SIGTERM")
	}
}

// TestDaemonLogsToSyslog runs the daemon in a mount namespace of its own
// where the syslog socket is this test's, and checks that what it logs
// after detaching from the terminal arrives there.
func TestDaemonLogsToSyslog(t *testing.T) {
	require(t, "unshare", "nsenter")
	sockDir := t.TempDir()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(sockDir, "syslog"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// log/syslog tries /dev/log, then /var/run/syslog: both lead here.
	// (/dev/log first: it may be a link into /run, which the second
	// bind hides.)
	dir, state := t.TempDir(), t.TempDir()
	script := fmt.Sprintf(`{ [ ! -e /dev/log ] || mount --bind %[1]s/syslog /dev/log; } && mount --bind %[1]s /var/run && exec %[2]s sim: %[3]s -o state=%[4]s`,
		sockDir, tpmfsBin, dir, state)
	if out, err := runErr("unshare", "--mount", "--propagation", "private", "sh", "-c", script); err != nil {
		t.Fatalf("daemon in its own namespace: %v\n%s", err, out)
	}
	pid := daemonOf(state)
	if pid == 0 {
		t.Fatal("no daemon")
	}
	t.Cleanup(func() {
		if !processGone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	messages := make(chan string, 100)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(messages)
				return
			}
			messages <- string(buf[:n])
		}
	}()
	await := func(subs ...string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case msg, ok := <-messages:
				if !ok {
					t.Fatal("syslog socket closed")
				}
				if !strings.Contains(msg, "tpmfs") {
					t.Errorf("syslog message without the tag tpmfs: %q", msg)
				}
				all := true
				for _, s := range subs {
					all = all && strings.Contains(msg, s)
				}
				if all {
					return
				}
			case <-deadline:
				t.Fatalf("no syslog message with %q within 30s", subs)
			}
		}
	}
	await("mounted")
	// A refusal is logged with the option to use.
	out, err := runErr("nsenter", "-t", itoa(pid), "-m", "chmod", "777", dir+"/random")
	if err == nil {
		t.Errorf("chmod random in the daemon's namespace succeeded: %s", out)
	}
	await("chmod refused", "random_mode=")
	syscall.Kill(pid, syscall.SIGTERM)
	await("unmounted")
}
