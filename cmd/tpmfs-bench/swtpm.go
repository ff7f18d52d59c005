//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// swtpmProc is a swtpm this program started, with its own state directory.
type swtpmProc struct {
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startSwtpm starts swtpm on a free port pair and waits until it listens.
func startSwtpm(stateDir string) (*swtpmProc, error) {
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	s := &swtpmProc{port: port, done: make(chan struct{})}
	s.cmd = exec.Command("swtpm", "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
		"--tpmstate", "dir="+stateDir,
		"--flags", "not-need-init,startup-clear")
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start swtpm: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	// The control channel is opened last; dialing it does not take the
	// data channel's one client slot.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port+1), time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("swtpm exited at start: %v", s.cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("swtpm on port %d not ready after 10s: %w", port, err)
		}
	}
}

// source is the tpmfs SOURCE naming this swtpm.
func (s *swtpmProc) source() string { return fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", s.port) }

// stop ends the swtpm by its pid and reaps it.
func (s *swtpmProc) stop() { endProcess(s.cmd.Process, s.done) }

// endProcess ends a process this program started: SIGTERM, then SIGKILL
// after 5 s; done closes once it is reaped.
func endProcess(p *os.Process, done <-chan struct{}) {
	p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.Kill()
		<-done
	}
}

// freePortPair returns a TCP port p with p+1 free too (swtpm's control
// channel), chosen by the kernel so that concurrent runs do not collide.
func freePortPair() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, errors.New("find a free port: no free pair after 50 tries")
}
