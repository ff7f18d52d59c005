package tests

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests treat the daemon as an attacker and an unlucky admin would:
// signals, mounts over dead and live mounts, a mount that fusermount3
// refuses, no syslog, and a look for secrets in the most verbose log.

// mountsAt counts the mounts at dir in this namespace: a mount stacked on
// another shows as a second line.
func mountsAt(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && unescapeMount(fields[4]) == dir {
			n++
		}
	}
	return n
}

// statusField reads one field of /proc/PID/status.
func statusField(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, key)
	return ""
}

// deadMount leaves a tpmfs mount whose daemon was killed: the kernel
// answers every access with ENOTCONN until it is unmounted.
func deadMount(t *testing.T) string {
	t.Helper()
	m := mountTPM(t, "sim:")
	// Killed before it finished mounting, the daemon could not exit
	// (see kill9): wait until it says it is mounted.
	if !m.waitLog("msg=mounted") {
		t.Fatalf("tpmfs did not log that it mounted:\n%s", m.Stderr())
	}
	m.kill9(t)
	// statfs asks the daemon every time (stat may answer from the
	// kernel's attribute cache for a second).
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.Dir, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("statfs of a mount whose daemon was killed: %v, want ENOTCONN", err)
	}
	t.Cleanup(func() {
		for isMounted(m.Dir) {
			if err := syscall.Unmount(m.Dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", m.Dir, err)
				return
			}
		}
	})
	return m.Dir
}

// TestMountOverDeadMount: a new mount over a dead one is refused, in the
// foreground and daemonised, with the reason and what to do; nothing is
// stacked. After umount, the same command mounts.
func TestMountOverDeadMount(t *testing.T) {
	dir := deadMount(t)
	if out, err := shErr("ls " + dir); err == nil || !strings.Contains(out, "Transport endpoint is not connected") {
		t.Fatalf("ls of the dead mount: %v %q; want ENOTCONN", err, out)
	}
	for _, fg := range [][]string{{"-f"}, nil} {
		args := append(fg, "sim:", dir, "-o", "state="+t.TempDir())
		out, err := daemonize(t, args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("tpmfs %q over a dead mount: %v, want exit status 1\n%s", args, err, out)
		}
		for _, want := range []string{"transport endpoint is not connected", "fuse.tpmfs (sim:)", "umount " + dir} {
			if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
				t.Errorf("tpmfs %q over a dead mount says %q; want it to say %q", args, out, want)
			}
		}
		if n := mountsAt(t, dir); n != 1 {
			t.Errorf("%d mounts at %s after the refusal, want the dead one alone", n, dir)
		}
	}
	run(t, "umount", dir)
	m := mountTPMAt(t, dir)
	if got := sh(t, "cat "+m.Path("info")); !strings.Contains(got, "family: 2.0") {
		t.Errorf("info after remounting: %q", got)
	}
}

// mountTPMAt mounts sim: at an existing dir with -f, as mountTPM does.
func mountTPMAt(t *testing.T, dir string) *mount {
	t.Helper()
	m := &mount{Dir: dir, stderr: &lockedWriter{}, done: make(chan struct{})}
	m.cmd = exec.Command(tpmfsBin, "-f", "sim:", dir, "-o", "state="+t.TempDir())
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() { m.unmount(t) })
	deadline := time.Now().Add(30 * time.Second)
	for !isMounted(dir) {
		select {
		case <-m.done:
			t.Fatalf("tpmfs exited before mounting: %v\n%s", m.cmd.ProcessState, m.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tpmfs did not mount within 30s\n%s", m.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return m
}

// TestMountOverMounted: mounting on a live tpmfs mount, or on any mount
// point, is refused with what is mounted there; the first mount serves on.
func TestMountOverMounted(t *testing.T) {
	m := mountTPM(t, "sim:")
	for _, fg := range [][]string{{"-f"}, nil} {
		args := append(fg, "sim:", m.Dir, "-o", "state="+t.TempDir())
		out, err := daemonize(t, args...)
		if err == nil {
			t.Errorf("tpmfs %q over a mounted path succeeded\n%s", args, out)
		}
		for _, want := range []string{"is in use: fuse.tpmfs (sim:) is mounted there", "umount " + m.Dir} {
			if !strings.Contains(out, want) {
				t.Errorf("tpmfs %q over a mounted path says %q; want %q", args, out, want)
			}
		}
		if n := mountsAt(t, m.Dir); n != 1 {
			t.Errorf("%d mounts at %s, want 1", n, m.Dir)
		}
	}
	if got := sh(t, "cat "+m.Path("info")); !strings.Contains(got, "family: 2.0") {
		t.Errorf("the first mount after the refusals: info %q", got)
	}
}

// TestSIGHUPSurvived: SIGHUP, which ended the daemon and left a dead
// mount, is now only logged; the mount serves on and SIGTERM still
// unmounts.
func TestSIGHUPSurvived(t *testing.T) {
	m := mountTPM(t, "sim:")
	for range 3 {
		if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	if !m.waitLog("SIGHUP") {
		t.Fatalf("no log line for SIGHUP\n%s", m.Stderr())
	}
	if got := sh(t, "cat "+m.Path("pcrs/sha256/00")); len(strings.TrimSpace(got)) != 64 {
		t.Errorf("pcrs/sha256/00 after SIGHUP: %q", got)
	}
	select {
	case <-m.done:
		t.Fatalf("tpmfs exited after SIGHUP: %v", m.cmd.ProcessState)
	default:
	}
	if got := statusField(t, m.cmd.Process.Pid, "Umask"); got != "0077" {
		t.Errorf("daemon umask %s, want 0077", got)
	}
}

// TestLogFileReopenedOnSIGHUP runs the daemon in the background with
// --log-file, renames the file as logrotate does, sends SIGHUP, and
// checks that the next lines go to a new file of that name.
func TestLogFileReopenedOnSIGHUP(t *testing.T) {
	require(t)
	dir, state := t.TempDir(), t.TempDir()
	logPath := filepath.Join(t.TempDir(), "tpmfs.log")
	out, err := daemonize(t, "--log-file", logPath, "sim:", dir, "-o", "state="+state)
	if err != nil {
		t.Fatalf("tpmfs --log-file: %v\n%s", err, out)
	}
	a := watchMount(t, dir, state)
	if strings.Contains(out, "syslog") {
		t.Errorf("with --log-file, the start warns about syslog: %q", out)
	}
	waitFile := func(path, s string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), s) {
				return string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks %q:\n%s", path, s, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFile(logPath, "mounted")
	if st, err := os.Stat(logPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("log file %v, %v; want mode 0600", st.Mode(), err)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(a.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFile(logPath, "log file reopened")
	// A refusal the daemon logs: it must land in the new file.
	if out, err := shErr("chmod 777 " + dir + "/random"); err == nil {
		t.Errorf("chmod random succeeded: %s", out)
	}
	waitFile(logPath, "chmod refused")
	if old, _ := os.ReadFile(logPath + ".1"); strings.Contains(string(old), "chmod refused") || !strings.Contains(string(old), "mounted") {
		t.Errorf("the renamed file has the later lines, or lacks the earlier ones:\n%s", old)
	}
	if got := sh(t, "cat "+dir+"/info"); !strings.Contains(got, "family: 2.0") {
		t.Errorf("info after SIGHUP: %q", got)
	}
	a.umount(t)
}

// TestNoSecretInTraceLog writes and reads a sealed secret at the most
// verbose log level, which logs every FUSE request, and looks for any
// piece of the secret in the log.
func TestNoSecretInTraceLog(t *testing.T) {
	m := mountTPMFlags(t, []string{"--log-level", "trace"}, "sim:")
	const secret = "SECRETMARKER"
	got := sh(t, fmt.Sprintf("mkdir %[1]s/seal/k && printf %[2]s > %[1]s/seal/k/data && cat %[1]s/seal/k/data", m.Dir, secret))
	if got != secret {
		t.Fatalf("unsealed %q, want %q", got, secret)
	}
	// The write and the read are in the log (so tracing is on) ...
	if !m.waitLogFor(func(log string) bool {
		return strings.Contains(log, ": WRITE ") && strings.Contains(log, ": READ ") && strings.Contains(log, "b data")
	}) {
		t.Fatalf("no FUSE WRITE and READ in the trace log:\n%s", m.Stderr())
	}
	m.unmount(t)
	log := m.Stderr()
	// ... and no 5 bytes of the secret, in any spelling.
	for i := 0; i+5 <= len(secret); i++ {
		if part := secret[i : i+5]; strings.Contains(log, part) {
			t.Errorf("the trace log contains %q of the secret", part)
		}
	}
	for _, enc := range []string{"5345435245544d4152", "U0VDUkVUTUFSS0VS"} {
		if strings.Contains(strings.ToUpper(log), strings.ToUpper(enc)) {
			t.Errorf("the trace log contains the secret encoded as %s", enc)
		}
	}
}

// TestDaemonNotDumpable runs the daemon as an ordinary user, mounting
// through fusermount3: it must not be dumpable (its /proc files belong
// to root, so the same user cannot read its environment or memory) and
// must run with umask 077. A process of that user that is dumpable shows
// the difference.
func TestDaemonNotDumpable(t *testing.T) {
	require(t, "setpriv", "fusermount3")
	dir, state := mountDir(t), mountDir(t)
	for _, d := range []string{dir, state} {
		if err := os.Chown(d, nobody.uid, nobody.gid); err != nil {
			t.Fatal(err)
		}
	}
	m := &mount{Dir: dir, stderr: &lockedWriter{}, done: make(chan struct{})}
	m.cmd = exec.Command("setpriv", fmt.Sprintf("--reuid=%d", nobody.uid), fmt.Sprintf("--regid=%d", nobody.gid), "--clear-groups",
		"--", userBinary(t), "-f", "sim:", dir, "-o", "state="+state)
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		if isMounted(dir) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		stopProcess(m.cmd)
	})
	deadline := time.Now().Add(30 * time.Second)
	for !isMounted(dir) {
		select {
		case <-m.done:
			t.Fatalf("tpmfs as uid %d exited before mounting: %v\n%s", nobody.uid, m.cmd.ProcessState, m.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tpmfs as uid %d did not mount within 30s\n%s", nobody.uid, m.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid := m.cmd.Process.Pid // setpriv executes tpmfs in its place
	if got := nobody.must(t, "cat "+dir+"/info"); !strings.Contains(got, "family: 2.0") {
		t.Errorf("info through the user's mount: %q", got)
	}
	if got := statusField(t, pid, "Umask"); got != "0077" {
		t.Errorf("daemon umask %s, want 0077", got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/status", pid), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 {
		t.Errorf("/proc/%d/status of the daemon (uid %d) belongs to uid %d: it is dumpable", pid, nobody.uid, st.Uid)
	}
	nobody.refused(t, syscall.EACCES, fmt.Sprintf("cat /proc/%d/environ", pid))
	// The control: the same user's shell can read its own environ.
	if out := nobody.must(t, "tr '\\0' '\\n' < /proc/$$/environ"); !strings.Contains(out, "LC_ALL=C") {
		t.Errorf("a dumpable process's environ as its own user: %q", out)
	}
	run(t, "umount", dir)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the user's tpmfs did not exit after umount")
	}
}

// userBinary is a copy of tpmfs that other users may run (tpmfsBin's
// directory is root's alone).
func userBinary(t *testing.T) string {
	t.Helper()
	dir := mountDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tpmfsBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tpmfs")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestBackgroundFailureReason: when fusermount3 refuses a mount, its own
// reason reaches the user of a daemonising tpmfs, not only "exit code 1".
// An ordinary user mounting on a directory that is not theirs is refused.
func TestBackgroundFailureReason(t *testing.T) {
	require(t, "setpriv", "fusermount3")
	dir, state := mountDir(t), mountDir(t) // root's, 0755
	if err := os.Chown(state, nobody.uid, nobody.gid); err != nil {
		t.Fatal(err)
	}
	out, err := nobody.sh(fmt.Sprintf("%s sim: %s -o state=%s", userBinary(t), dir, state))
	if err == nil {
		syscall.Unmount(dir, syscall.MNT_DETACH)
		t.Fatalf("uid %d mounted on root's directory: %s", nobody.uid, out)
	}
	if !strings.Contains(out, "fusermount3: ") || !strings.Contains(out, dir) {
		t.Errorf("the failure says %q; want fusermount3's own reason", out)
	}
	if !strings.Contains(out, "tpmfs: mount "+dir) {
		t.Errorf("the failure says %q; want tpmfs's error too", out)
	}
	if isMounted(dir) {
		syscall.Unmount(dir, syscall.MNT_DETACH)
		t.Error("mounted after the failure")
	}
}

// TestNoSyslogWarning runs the daemon where no syslog socket answers (in
// a mount namespace whose sockets are hidden): it must say so at start,
// where the user sees it, and mount all the same; with --log-file it
// does not warn.
func TestNoSyslogWarning(t *testing.T) {
	require(t, "unshare")
	dir, state := t.TempDir(), t.TempDir()
	// log/syslog tries these; each that exists is hidden by /dev/null.
	hide := `for s in /dev/log /var/run/syslog /var/run/log; do [ ! -S "$s" ] || mount --bind /dev/null "$s" || exit 1; done`
	script := fmt.Sprintf(`%s
		%[2]s sim: %[3]s -o state=%[4]s 2>%[5]s/plain.err || exit 1
		cat %[3]s/info >/dev/null && umount %[3]s
		%[2]s --log-file %[5]s/tpmfs.log sim: %[3]s -o state=%[4]s 2>%[5]s/file.err || exit 1
		cat %[3]s/info >/dev/null && umount %[3]s`, hide, tpmfsBin, dir, state, state)
	if out, err := runErr("unshare", "--mount", "--propagation", "private", "sh", "-c", script); err != nil {
		t.Fatalf("tpmfs without syslog: %v\n%s", err, out)
	}
	plain, _ := os.ReadFile(filepath.Join(state, "plain.err"))
	if !strings.Contains(string(plain), "no syslog socket") || !strings.Contains(string(plain), "--log-file") {
		t.Errorf("without syslog the start says %q; want a warning naming --log-file", plain)
	}
	if withFile, _ := os.ReadFile(filepath.Join(state, "file.err")); len(withFile) != 0 {
		t.Errorf("with --log-file the start says %q; want nothing", withFile)
	}
	if log, _ := os.ReadFile(filepath.Join(state, "tpmfs.log")); !strings.Contains(string(log), "mounted") {
		t.Errorf("--log-file holds %q; want the daemon's log", log)
	}
}
