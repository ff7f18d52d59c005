//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"tpmfs/internal/swtpmtest"
)

// daemon is a tpmfs serving a mount point, run in the foreground as a
// subprocess: this process only uses the mount, it never serves it.
type daemon struct {
	dir    string
	state  string // its state directory
	cmd    *exec.Cmd
	stderr *swtpmtest.SyncBuffer
	done   chan struct{}
	// ready is the time from exec to the daemon's READY=1.
	ready time.Duration
}

// mountDaemon runs `tpmfs -f SOURCE DIR -o state=STATE` and waits for
// its sd_notify READY=1, which it sends once the mount is usable. An
// empty state is a new state directory.
func mountDaemon(bin, source, work, state, logLevel string) (*daemon, error) {
	dir, err := os.MkdirTemp(work, "mnt")
	if err != nil {
		return nil, err
	}
	if state == "" {
		if state, err = os.MkdirTemp(work, "state"); err != nil {
			return nil, err
		}
	}
	sock := filepath.Join(work, fmt.Sprintf("notify-%d", time.Now().UnixNano()))
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	defer notify.Close()
	defer os.Remove(sock)

	d := &daemon{dir: dir, state: state, stderr: &swtpmtest.SyncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, "-f", "--log-level", logLevel, source, dir, "-o", "state="+state)
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	d.cmd.Stderr = d.stderr
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	if err := d.waitReady(notify, 30*time.Second); err != nil {
		d.kill()
		return nil, fmt.Errorf("%w\n%s", err, d.stderr.String())
	}
	d.ready = time.Since(start)
	return d, nil
}

func (d *daemon) waitReady(notify *net.UnixConn, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	buf := make([]byte, 512)
	for time.Now().Before(deadline) {
		// Short reads so that a daemon that exits is noticed at once.
		notify.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _, err := notify.ReadFrom(buf)
		if err == nil && bytes.Contains(buf[:n], []byte("READY=1")) {
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("notify socket: %w", err)
		}
		select {
		case <-d.done:
			return fmt.Errorf("tpmfs exited before the mount was ready: %v", d.cmd.ProcessState)
		default:
		}
	}
	return fmt.Errorf("tpmfs not ready after %v", limit)
}

// path joins names under the mount point.
func (d *daemon) path(names ...string) string {
	return filepath.Join(append([]string{d.dir}, names...)...)
}

// peakRSS is the daemon's peak resident set size so far, in bytes.
func (d *daemon) peakRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmHWM(b)
}

// cpuTime is the CPU time the daemon has used so far.
func (d *daemon) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// unmount unmounts, waits for the daemon to exit and reports an unclean
// exit.
func (d *daemon) unmount() error {
	var err error
	for range 50 {
		if err = syscall.Unmount(d.dir, 0); err == nil || !errors.Is(err, syscall.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		d.kill()
		return fmt.Errorf("unmount %s: %w", d.dir, err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.kill()
		return fmt.Errorf("tpmfs did not exit after unmount\n%s", d.stderr.String())
	}
	if !d.cmd.ProcessState.Success() {
		return fmt.Errorf("tpmfs exited with %v\n%s", d.cmd.ProcessState, d.stderr.String())
	}
	return nil
}

// kill ends the daemon by its pid and detaches a mount it leaves behind.
func (d *daemon) kill() {
	endProcess(d.cmd.Process, d.done)
	syscall.Unmount(d.dir, syscall.MNT_DETACH)
}
