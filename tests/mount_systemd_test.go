package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
		// --man=no: Documentation=man:tpmfs(8) is installed by the package.
		if out, err := runErr("systemd-analyze", "verify", "--man=no", path); err != nil || strings.TrimSpace(out) != "" {
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
