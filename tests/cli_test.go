package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// daemonize runs tpmfs without -f (the default: daemonise) and returns
// its exit error and stderr. The parent must exit only once mounted, or
// with the error.
func daemonize(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tpmfsBin, args...)
	var out lockedWriter
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestMountFailsCleanly(t *testing.T) {
	require(t)
	dead := swtpmtest.FreePortPair(t) // nothing listens there
	cases := []struct {
		name, want string
		args       []string
	}{
		{"unreachable TPM", "127.0.0.1", []string{"swtpm:port=" + itoa(dead)}},
		{"unknown SOURCE", "bogus", []string{"bogus:thing"}},
		{"unknown option", "frobnicate", []string{"sim:", "-o", "frobnicate"}},
		{"malformed option", "pcr_mode", []string{"sim:", "-o", "pcr_mode=99x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{c.args[0], dir}, c.args[1:]...)
			out, err := daemonize(t, args...)
			if err == nil {
				syscall.Unmount(dir, syscall.MNT_DETACH)
				t.Fatalf("tpmfs %v succeeded; want failure", args)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("message %q does not name %q", out, c.want)
			}
			if isMounted(dir) {
				syscall.Unmount(dir, syscall.MNT_DETACH)
				t.Errorf("%s is mounted after a failed start", dir)
			}
		})
	}
}

func TestDaemonMountsThenSIGTERMUnmounts(t *testing.T) {
	require(t)
	dir := t.TempDir()
	out, err := daemonize(t, "sim:", dir, "-o", "allow_other,state="+t.TempDir())
	if err != nil {
		t.Fatalf("daemonised tpmfs: %v\n%s", err, out)
	}
	// The parent exited 0: the mount must already be there.
	if !isMounted(dir) {
		t.Fatal("parent exited 0 before the mount was ready")
	}
	pid := daemonPid(t, dir)
	info := sh(t, "cat "+dir+"/info")
	if !strings.Contains(info, "family: 2.0") {
		t.Errorf("info = %q", info)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for isMounted(dir) || syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatal("SIGTERM did not unmount and end the daemon within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemonPid finds the daemon serving dir: the tpmfs process whose command
// line names dir (we started it; we end it by this pid).
func daemonPid(t *testing.T, dir string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "tpmfs" && slices.Contains(args, dir) {
			return atoi(filepath.Base(filepath.Dir(p)))
		}
	}
	t.Fatalf("no tpmfs process serving %s", dir)
	return 0
}
