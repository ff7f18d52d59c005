package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Go cannot fork, so the program daemonises by starting itself again,
// detached, with daemonEnv set to the number of the fd that holds the
// write end of a pipe. The child answers on the pipe with one line:
// "ready", or "error" followed by the error text. The parent exits 0 only
// after "ready".
const (
	daemonEnv    = "TPMFS_DAEMON_CHILD"
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	maxReport    = 64 << 10
)

// daemonize starts the detached child with the same arguments and waits
// until it reports the mount ready (nil) or fails (its error).
func daemonize(ctx context.Context, argv []string, mountpoint string) error {
	// Not exec.LookPath: PATH may be empty; /proc/self/exe is not.
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("daemonise: %w", err)
	}
	defer r.Close()
	cmd := childCommand(exe, argv, mountpoint, w)
	closeInheritedOnExec()
	err = cmd.Start()
	w.Close() // else the parent's copy would hide the child's exit
	if err != nil {
		return fmt.Errorf("daemonise: start %s: %w", exe, err)
	}
	return awaitReady(ctx, cmd, r, readyTimeout)
}

// childCommand prepares the daemon child: same arguments, its own session
// (no controlling terminal, no SIGHUP from one), stdin and stdout on
// /dev/null, and w as an extra fd named in daemonEnv. It keeps the
// caller's stderr until the mount is ready (then it points fd 2 at
// /dev/null): what fusermount3 and the child say about a failed start
// reaches the caller as it would in the foreground. A mountpoint
// /dev/fd/N, which mount.fuse3's drop_privileges passes (an open, already
// mounted /dev/fuse), keeps fd N at its number, so the pipe goes above.
func childCommand(exe string, argv []string, mountpoint string, w *os.File) *exec.Cmd {
	var extra []*os.File // extra[i] becomes fd 3+i; nil closes it
	if num, ok := strings.CutPrefix(mountpoint, "/dev/fd/"); ok {
		if n, err := strconv.Atoi(num); err == nil && n >= 3 {
			extra = make([]*os.File, n-3+1)
			extra[n-3] = os.NewFile(uintptr(n), mountpoint)
		}
	}
	pipeFD := 3 + len(extra)
	cmd := exec.Command(exe, argv...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), daemonEnv+"="+strconv.Itoa(pipeFD))
	cmd.ExtraFiles = append(extra, w)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

// awaitReady waits, at most timeout, for the child's report on r. On
// timeout or when ctx ends it stops the child, so that a mount the
// parent has called failed does not appear later.
func awaitReady(ctx context.Context, cmd *exec.Cmd, r *os.File, timeout time.Duration) error {
	type report struct {
		status, text string
	}
	reports := make(chan report, 1)
	go func() {
		br := bufio.NewReader(io.LimitReader(r, maxReport))
		status, _ := br.ReadString('\n')
		rep := report{status: strings.TrimSuffix(status, "\n")}
		if rep.status == "error" {
			text, _ := io.ReadAll(br)
			rep.text = strings.TrimSpace(string(text))
		}
		reports <- rep
	}()
	exited := make(chan struct{})
	go func() {
		cmd.Wait() // how it ended is in cmd.ProcessState
		close(exited)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case rep := <-reports:
		switch rep.status {
		case "ready":
			return nil
		case "error":
			if rep.text == "" {
				rep.text = "daemon failed without a message"
			}
			return errors.New(rep.text)
		}
		// The pipe closed without a report: the child died.
		select {
		case <-exited:
			return fmt.Errorf("daemon exited before the mount was ready (%v)", cmd.ProcessState)
		case <-time.After(stopTimeout):
			return fmt.Errorf("daemon pid %d closed its report pipe without a report", cmd.Process.Pid)
		}
	case <-timer.C:
		return fmt.Errorf("no mount after %v; %s", timeout, stopChild(cmd, exited))
	case <-ctx.Done():
		return fmt.Errorf("interrupted while waiting for the mount; %s", stopChild(cmd, exited))
	}
}

// stopChild asks the child to unmount and exit, kills it if it does not
// within stopTimeout, and says what happened.
func stopChild(cmd *exec.Cmd, exited <-chan struct{}) string {
	pid := cmd.Process.Pid
	cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
	select {
	case <-exited:
		return fmt.Sprintf("daemon pid %d stopped (%v)", pid, cmd.ProcessState)
	case <-time.After(stopTimeout):
	}
	cmd.Process.Kill()
	select {
	case <-exited:
		return fmt.Sprintf("daemon pid %d killed", pid)
	case <-time.After(stopTimeout):
		return fmt.Sprintf("daemon pid %d does not die", pid)
	}
}

// readyPipe is the child's end of the report pipe.
type readyPipe struct {
	once sync.Once
	f    *os.File
}

// childPipe returns the report pipe when this process is the daemon
// child, or nil. It clears daemonEnv and marks the pipe close-on-exec so
// that helpers the child runs (fusermount) neither inherit the role nor
// keep the parent waiting.
func childPipe() (*readyPipe, error) {
	val, ok := os.LookupEnv(daemonEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(daemonEnv)
	fd, err := strconv.Atoi(val)
	var st syscall.Stat_t
	if err != nil || fd < 3 || syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil, fmt.Errorf("%s=%q does not name an inherited pipe", daemonEnv, val)
	}
	syscall.CloseOnExec(fd)
	return &readyPipe{f: os.NewFile(uintptr(fd), "tpmfs-report")}, nil
}

// ready tells the parent the mount is up. Only the first report counts;
// later ones do nothing, as the parent has gone.
func (p *readyPipe) ready() error { return p.send("ready\n") }

// fail hands err to the parent, which prints it.
func (p *readyPipe) fail(err error) error { return p.send("error\n" + err.Error() + "\n") }

func (p *readyPipe) send(msg string) error {
	var err error
	p.once.Do(func() {
		_, err = io.WriteString(p.f, msg)
		if cerr := p.f.Close(); err == nil {
			err = cerr
		}
	})
	if err != nil {
		return fmt.Errorf("report to parent: %w", err)
	}
	return nil
}
