package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tpmfs/internal/swtpmtest"
)

// startReporter starts /bin/sh running script with the write end of a
// report pipe as fd 3, as daemonize does, and returns the read end.
func startReporter(t *testing.T, script string) (*exec.Cmd, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		swtpmtest.SkipOrFail(t, "no /bin/sh: %v", err)
	}
	w.Close()
	t.Cleanup(func() {
		r.Close()
		cmd.Process.Kill() // by pid; harmless once reaped
	})
	return cmd, r
}

func TestAwaitReady(t *testing.T) {
	tests := []struct {
		name, script string
		wantErr      string // "" for success
	}{
		// The child keeps running after "ready", as a daemon does.
		{"ready", `printf 'ready\n' >&3; exec sleep 30`, ""},
		{"error", `printf 'error\nserve: no TPM at /dev/tpmrm0\n' >&3`, "serve: no TPM at /dev/tpmrm0"},
		{"multi-line error", `printf 'error\nline one\nline two\n' >&3`, "line one\nline two"},
		{"empty error", `printf 'error\n' >&3`, "without a message"},
		{"died", `exit 3`, "daemon exited before the mount was ready (exit status 3)"},
		{"garbage", `printf 'hello\n' >&3; exit 4`, "exit status 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, r := startReporter(t, tt.script)
			err := awaitReady(context.Background(), cmd, r, 30*time.Second)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("awaitReady: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("awaitReady error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// terminated reports whether the child ended by SIGTERM.
func terminated(cmd *exec.Cmd) bool {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM
}

func TestAwaitReadyTimeoutStopsChild(t *testing.T) {
	cmd, r := startReporter(t, `exec sleep 30`)
	err := awaitReady(context.Background(), cmd, r, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no mount after") {
		t.Fatalf("awaitReady error %v, want a timeout", err)
	}
	if cmd.ProcessState == nil || !terminated(cmd) {
		t.Fatalf("child not stopped by SIGTERM: %v", cmd.ProcessState)
	}
}

func TestAwaitReadyInterruptStopsChild(t *testing.T) {
	cmd, r := startReporter(t, `exec sleep 30`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := awaitReady(ctx, cmd, r, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("awaitReady error %v, want interrupted", err)
	}
	if cmd.ProcessState == nil || !terminated(cmd) {
		t.Fatalf("child not stopped by SIGTERM: %v", cmd.ProcessState)
	}
}

func TestReadyPipeReportsOnce(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := &readyPipe{f: w}
	if err := p.ready(); err != nil {
		t.Fatal(err)
	}
	if err := p.fail(os.ErrClosed); err != nil {
		t.Fatalf("fail after ready: %v, want a silent no-op", err)
	}
	got, err := io.ReadAll(r) // ends: ready closed the write end
	if err != nil || string(got) != "ready\n" {
		t.Fatalf("pipe carried %q, %v; want only \"ready\\n\"", got, err)
	}
}

// TestChildCommandFds runs a shell as the daemon child would run: the
// report pipe must be at the fd daemonEnv names, stdin and stdout on
// /dev/null, stderr the caller's, the session its own, and a /dev/fd/N
// mount point's fd N passed on at the same number.
func TestChildCommandFds(t *testing.T) {
	// fd N: a pipe whose write end the parent holds at a number above the
	// default extra fd, as mount.fuse3 would (it holds /dev/fuse there).
	fuseR, fuseW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer fuseR.Close()
	defer fuseW.Close()
	n := int(fuseW.Fd())
	// The shell reports what it sees on the fd daemonEnv names, and
	// writes to fd N.
	script := fmt.Sprintf(`
		echo hello >&%d
		read -r stat < /proc/$$/stat
		set -- ${stat##*) } # after "pid (comm) ": state ppid pgrp session
		printf 'ready\n%%s %%s %%s %%s\n' "$(readlink /proc/$$/fd/0)" "$(readlink /proc/$$/fd/1)" "$(readlink /proc/$$/fd/2)" "$4" >&"$%s"
		echo $$ >&"$%s"`, n, daemonEnv, daemonEnv)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// bash, not sh: dash redirects only fds 0-9, and N+1 may be 10.
	cmd := childCommand("/bin/bash", []string{"-c", script}, fmt.Sprintf("/dev/fd/%d", n), w)
	if err := cmd.Start(); err != nil {
		swtpmtest.SkipOrFail(t, "no /bin/bash: %v", err)
	}
	w.Close()
	fuseW.Close()
	defer cmd.Wait()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || lines[0] != "ready" {
		t.Fatalf("child reported %q, want ready and two lines", out)
	}
	fields := strings.Fields(lines[1])
	for i, f := range fields[:2] {
		if f != "/dev/null" {
			t.Errorf("child fd %d is %q, want /dev/null", i, f)
		}
	}
	if ours, _ := os.Readlink("/proc/self/fd/2"); fields[2] != ours {
		t.Errorf("child stderr is %q, want the caller's %q", fields[2], ours)
	}
	if sid := fields[3]; sid != strings.TrimSpace(lines[2]) {
		t.Errorf("child session %s, want its own (pid %s)", sid, lines[2])
	}
	hello, err := io.ReadAll(fuseR)
	if err != nil || string(hello) != "hello\n" {
		t.Errorf("fd %d in the child carried %q, %v; want \"hello\\n\"", n, hello, err)
	}
	if cmd.Env[len(cmd.Env)-1] != fmt.Sprintf("%s=%d", daemonEnv, n+1) {
		t.Errorf("child env ends with %q, want the pipe right above fd %d", cmd.Env[len(cmd.Env)-1], n)
	}
}

func TestCloseInheritedOnExec(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// Pretend w was inherited: clear its close-on-exec flag.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	closeInheritedOnExec()
	flags, err := unix.FcntlInt(w.Fd(), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d still inheritable", w.Fd())
	}
	for fd := 0; fd <= 2; fd++ {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC != 0 {
			t.Errorf("fd %d marked close-on-exec", fd)
		}
	}
}
