package tests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// tpmfsBin is the binary under test, built once by TestMain.
var tpmfsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tpmfs-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tpmfsBin = filepath.Join(dir, "tpmfs")
	build := exec.Command("go", "build", "-o", tpmfsBin, "tpmfs/cmd/tpmfs")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tpmfs:", err)
		os.Exit(1)
	}
	code := swtpmtest.RunMain(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// require skips when a tool is missing or the tests are not root, or
// fails under TPMFS_TEST_REQUIRE=1.
func require(t *testing.T, tools ...string) {
	t.Helper()
	swtpmtest.Require(t, tools...)
	if os.Geteuid() != 0 {
		swtpmtest.SkipOrFail(t, "end-to-end tests need root to mount")
	}
}

// stopProcess ends a process we started, by pid, and reaps it.
func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// mount is a tpmfs daemon serving a mountpoint.
type mount struct {
	Dir    string
	cmd    *exec.Cmd
	stderr *lockedWriter
	done   chan struct{}
}

// mountTPM runs `tpmfs -f SOURCE DIR [-o opts]` and waits until the mount
// shows in the mount table. Cleanup unmounts and stops it.
func mountTPM(t *testing.T, source string, opts ...string) *mount {
	t.Helper()
	return mountTPMFlags(t, []string{"--log-level", "debug"}, source, opts...)
}

// mountTPMFlags is mountTPM with other flags than --log-level debug.
func mountTPMFlags(t *testing.T, flags []string, source string, opts ...string) *mount {
	t.Helper()
	require(t)
	m := &mount{Dir: t.TempDir(), stderr: &lockedWriter{}, done: make(chan struct{})}
	// A state directory of the test's own, never the system's
	// /var/lib/tpmfs (whose lock a real mount may hold); a state= in
	// opts comes later and wins.
	opts = append([]string{"state=" + t.TempDir()}, opts...)
	args := append(append([]string{"-f"}, flags...), source, m.Dir, "-o", strings.Join(opts, ","))
	m.cmd = exec.Command(tpmfsBin, args...)
	m.cmd.Stdout = os.Stderr
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() { m.unmount(t) })
	deadline := time.After(30 * time.Second)
	for !isMounted(m.Dir) {
		select {
		case <-m.done:
			t.Fatalf("tpmfs exited before mounting: %v\n%s", m.cmd.ProcessState, m.Stderr())
		case <-deadline:
			t.Fatalf("tpmfs did not mount within 30s\n%s", m.Stderr())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return m
}

// Path joins names under the mountpoint.
func (m *mount) Path(names ...string) string {
	return filepath.Join(append([]string{m.Dir}, names...)...)
}

func (m *mount) Stderr() string { return m.stderr.String() }

// waitLog waits (bounded) until the daemon's log contains s: the log
// reaches us through a pipe, a little after the operation returned.
func (m *mount) waitLog(s string) bool {
	return m.waitLogFor(func(log string) bool { return strings.Contains(log, s) })
}

// waitLogFor waits (bounded) until ok holds for the daemon's log.
func (m *mount) waitLogFor(ok func(log string) bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !ok(m.Stderr()) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// unmount unmounts, waits for the daemon to exit, and fails the test if
// it did not exit cleanly. Safe to call twice.
func (m *mount) unmount(t *testing.T) {
	t.Helper()
	if m.cmd.Process == nil {
		return
	}
	select {
	case <-m.done:
		return
	default:
	}
	var err error
	for i := 0; i < 20; i++ {
		if err = syscall.Unmount(m.Dir, 0); err == nil || !isMounted(m.Dir) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil && isMounted(m.Dir) {
		syscall.Unmount(m.Dir, syscall.MNT_DETACH)
		t.Errorf("unmount %s: %v", m.Dir, err)
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		m.kill9(t)
		t.Errorf("tpmfs did not exit after unmount\n%s", m.Stderr())
	}
	if !m.cmd.ProcessState.Success() {
		t.Errorf("tpmfs exited with %v\n%s", m.cmd.ProcessState, m.Stderr())
	}
}

// kill9 kills the daemon and waits for it, bounded. A daemon killed while
// one of its own threads waits on its own mount (go-fuse opens a file in
// the mount just after mounting) cannot exit: the kernel waits for an
// answer only the dead daemon could give, and keeps the connection, and
// so the process, alive. Past 5 s the connection is aborted through
// fusectl, as an administrator would, and the wait goes on.
func (m *mount) kill9(t *testing.T) {
	t.Helper()
	m.cmd.Process.Kill()
	select {
	case <-m.done:
		return
	case <-time.After(5 * time.Second):
	}
	if err := abortFUSE(m.Dir); err != nil {
		t.Errorf("daemon not reaped 5 s after SIGKILL, and its connection could not be aborted: %v", err)
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("daemon not reaped after SIGKILL and an abort of its connection")
	}
}

// abortFUSE aborts the FUSE connection of the mount at dir, through
// fusectl (mounted if it is not).
func abortFUSE(dir string) error {
	const ctl = "/sys/fs/fuse/connections"
	if entries, err := os.ReadDir(ctl); err != nil || len(entries) == 0 {
		syscall.Mount("fusectl", ctl, "fusectl", 0, "")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == dir {
			_, minor, _ := strings.Cut(fields[2], ":")
			return os.WriteFile(ctl+"/"+minor+"/abort", []byte("1"), 0)
		}
	}
	return fmt.Errorf("%s is not mounted", dir)
}

// isMounted reports whether dir is a mountpoint in this namespace.
func isMounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == dir {
			return true
		}
	}
	return false
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// run runs a command with a timeout and returns its stdout; failure is fatal.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runErr runs a command with a timeout and returns stdout+stderr.
func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// sh runs a shell snippet (real cat/echo/head) with a timeout.
func sh(t *testing.T, script string) string {
	t.Helper()
	return run(t, "sh", "-c", script)
}

func shErr(script string) (string, error) { return runErr("sh", "-c", script) }

// lockedWriter lets the daemon's stderr be read while it is written.
type lockedWriter = swtpmtest.SyncBuffer

// pcrreadTool reads one PCR with tpm2_pcrread against tcti.
func pcrreadTool(t *testing.T, tcti, bank string, idx int) string {
	t.Helper()
	out := run(t, "tpm2_pcrread", "-T", tcti, fmt.Sprintf("%s:%d", bank, idx))
	// Output: "  sha256:\n    16: 0xABCD…"
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, strconv.Itoa(idx)+":") || strings.HasPrefix(line, fmt.Sprintf("%2d:", idx)) {
			v := strings.TrimSpace(line[strings.Index(line, ":")+1:])
			return strings.ToLower(strings.TrimPrefix(v, "0x"))
		}
	}
	t.Fatalf("tpm2_pcrread output without pcr %d:\n%s", idx, out)
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

func atoi(s string) int {
	i, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return i
}
