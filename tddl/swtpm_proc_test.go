package tddl_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// requireTool skips the test when name is not installed, or fails it when
// TPMFS_TEST_REQUIRE=1 demands every tool.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("TPMFS_TEST_REQUIRE") == "1" {
			t.Fatalf("%s is required (TPMFS_TEST_REQUIRE=1): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
}

// swtpmProc is a swtpm subprocess with its own state dir; it can be
// stopped and started again on the same address and state.
type swtpmProc struct {
	stateDir string
	port     int    // TCP data port (control on port+1); 0 for Unix
	sock     string // Unix data socket
	ctrl     string // Unix control socket
	cmd      *exec.Cmd
	exited   chan struct{}
	stderr   bytes.Buffer
}

func startSwtpmTCP(t testing.TB) *swtpmProc {
	t.Helper()
	requireTool(t, "swtpm")
	var err error
	for range 5 {
		p := &swtpmProc{stateDir: t.TempDir(), port: freePortPair(t)}
		if err = p.start(); err == nil {
			t.Cleanup(p.stop)
			return p
		}
	}
	t.Fatalf("start swtpm: %v", err)
	return nil
}

func startSwtpmUnix(t testing.TB) *swtpmProc {
	t.Helper()
	requireTool(t, "swtpm")
	dir := t.TempDir()
	p := &swtpmProc{stateDir: filepath.Join(dir, "state"),
		sock: filepath.Join(dir, "sock"), ctrl: filepath.Join(dir, "ctrl")}
	if err := os.Mkdir(p.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	t.Cleanup(p.stop)
	return p
}

// freePortPair finds a port P with P+1 also free (swtpm's control channel).
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l1.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free pair of TCP ports")
	return 0
}

func (p *swtpmProc) source() string {
	if p.sock != "" {
		return "swtpm:path=" + p.sock
	}
	return fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", p.port)
}

// tcti is the tpm2-tools -T argument for this swtpm.
func (p *swtpmProc) tcti() string {
	return fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", p.port)
}

// start runs swtpm and waits, bounded, until its data channel accepts.
func (p *swtpmProc) start() error {
	args := []string{"socket", "--tpm2", "--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir=" + p.stateDir}
	// Probe the data channel: swtpm binds it last.
	probeNet, probeAddr := "unix", p.sock
	if p.sock != "" {
		args = append(args, "--server", "type=unixio,path="+p.sock,
			"--ctrl", "type=unixio,path="+p.ctrl)
	} else {
		args = append(args,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p.port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p.port+1))
		probeNet, probeAddr = "tcp", fmt.Sprintf("127.0.0.1:%d", p.port)
	}
	p.stderr.Reset()
	p.cmd = exec.Command("swtpm", args...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	p.exited = exited
	go func(cmd *exec.Cmd) { cmd.Wait(); close(exited) }(p.cmd)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("swtpm exited: %s", p.stderr.String())
		default:
		}
		if c, err := net.DialTimeout(probeNet, probeAddr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	return fmt.Errorf("swtpm not ready within 10s: %s", p.stderr.String())
}

// stop ends swtpm by its pid, politely first.
func (p *swtpmProc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.kill()
	}
	p.cmd = nil
}

func (p *swtpmProc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}
