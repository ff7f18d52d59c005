package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runMainEnv makes the test binary act as tpmfs, so that the program
// tests, and the daemon's re-execution of itself, need no separate build.
const runMainEnv = "TPMFS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

// tpmfs runs the program with args and a bounded run time.
func tpmfs(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run tpmfs %q: %v", args, err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// closedPort returns a swtpm SOURCE nobody listens on, so that mounting
// fails at the TPM connection whatever serve does before it.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return "swtpm:host=127.0.0.1,port=" + strconv.Itoa(port)
}

func TestHelpAndVersion(t *testing.T) {
	r := tpmfs(t, "--help")
	if r.code != 0 {
		t.Fatalf("--help exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"Usage: tpmfs [flags] SOURCE MOUNTPOINT [-o OPTIONS]", "auto", "device:/dev/tpm0", "swtpm:host=", "swtpm:path=", "sim:", "--foreground", "--log-level", "--log-format", "allow_other", "pcr_mode=", "srk_auth="} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help output lacks %q", want)
		}
	}
	r = tpmfs(t, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "tpmfs ") {
		t.Errorf("--version: exit %d, output %q", r.code, r.stdout)
	}
}

func TestCommandLineErrorsExit2(t *testing.T) {
	mnt := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing SOURCE and MOUNTPOINT"},
		{[]string{"auto", mnt, "-o", "ro,foo"}, `unknown mount option "foo"`},
		{[]string{"-f", "auto", mnt, "-o", "pcr_mode=999"}, "pcr_mode=999: invalid octal mode"},
		{[]string{"nonsense:", mnt}, "nonsense"},
		{[]string{"--log-format", "xml", "auto", mnt}, "xml"},
	}
	for _, tt := range tests {
		r := tpmfs(t, tt.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "tpmfs: ") || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("tpmfs %q: exit %d, stderr %q; want exit 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// TestDaemonParentPrintsChildError runs a failing mount in the foreground
// and daemonised: the daemon's parent must print the same error as the
// foreground run (it came from the child over the pipe) and exit 1.
func TestDaemonParentPrintsChildError(t *testing.T) {
	source, mnt := closedPort(t), t.TempDir()
	fg := tpmfs(t, "-f", "--log-level", "panic", source, mnt)
	if fg.code != 1 || !strings.HasPrefix(fg.stderr, "tpmfs: ") {
		t.Fatalf("foreground: exit %d, stderr %q; want 1 and an error", fg.code, fg.stderr)
	}
	bg := tpmfs(t, "--log-level", "panic", source, mnt)
	if bg.code != 1 {
		t.Fatalf("daemon: exit %d, stderr %q; want 1", bg.code, bg.stderr)
	}
	if bg.stderr != fg.stderr {
		t.Errorf("daemon parent printed %q, foreground %q; want the same error", bg.stderr, fg.stderr)
	}
}

// TestClosedStdFds starts tpmfs with an empty PATH and fds 0 and 1 (then
// 0, 1 and 2) closed, as some init systems do. The daemon's report pipe
// must not be mistaken for a standard stream, so the error still arrives
// on fd 2 and the exit status is right.
func TestClosedStdFds(t *testing.T) {
	source, mnt := closedPort(t), t.TempDir()
	env := []string{"PATH=", runMainEnv + "=1"}
	start := func(stderr *os.File, args ...string) int {
		t.Helper()
		argv := append([]string{os.Args[0]}, args...)
		p, err := os.StartProcess(os.Args[0], argv, &os.ProcAttr{Env: env, Files: []*os.File{nil, nil, stderr}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan *os.ProcessState, 1)
		go func() { st, _ := p.Wait(); done <- st }()
		select {
		case st := <-done:
			return st.ExitCode()
		case <-time.After(2 * time.Minute):
			p.Kill()
			t.Fatalf("tpmfs %q did not exit", args)
		}
		return -1
	}
	for _, args := range [][]string{
		{"--log-level", "panic", source, mnt},
		{"-f", "--log-level", "panic", source, mnt},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		code := start(w, args...)
		w.Close()
		var buf bytes.Buffer
		buf.ReadFrom(r)
		r.Close()
		if code != 1 || !strings.HasPrefix(buf.String(), "tpmfs: ") {
			t.Errorf("fds 0,1 closed, tpmfs %q: exit %d, stderr %q; want 1 and the error", args, code, buf.String())
		}
		if code := start(nil, args...); code != 1 {
			t.Errorf("fds 0-2 closed, tpmfs %q: exit %d, want 1", args, code)
		}
	}
	if code := start(nil, "auto", mnt, "-o", "bogus"); code != 2 {
		t.Errorf("fds 0-2 closed, bad option: exit %d, want 2", code)
	}
}
