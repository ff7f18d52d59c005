package sealing

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// swtpm is a software TPM run as a subprocess for one test, with its own
// state directory (so its own seeds) and dynamically chosen ports.
type swtpm struct {
	port int
	tcti string // for tpm2-tools' -T
}

// startSwtpm starts swtpm and stops it (by pid) when the test ends.
func startSwtpm(t *testing.T) *swtpm {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	requireTool(t, err, "swtpm")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ { // another test may grab the ports first
		port, err := freePortPair()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "socket", "--tpm2",
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
			"--flags", "not-need-init,startup-clear",
			"--tpmstate", "dir="+t.TempDir())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start swtpm: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if lastErr = waitListening(port, exited); lastErr == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					t.Errorf("swtpm pid %d did not exit", cmd.Process.Pid)
				}
			})
			return &swtpm{port: port, tcti: fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", port)}
		}
		_ = cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("%w: %s", lastErr, stderr.String())
	}
	t.Fatalf("swtpm did not start: %v", lastErr)
	return nil
}

// freePortPair finds a port P with P+1 also free (swtpm's control port).
func freePortPair() (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port pair")
}

// waitListening polls the data port until swtpm accepts, it exits, or a
// deadline passes.
func waitListening(port int, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("swtpm exited")
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("swtpm not listening after 10s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connTPM is a minimal transport over swtpm's data channel: raw commands,
// each response framed by the size in its header.
type connTPM struct{ c net.Conn }

// dial connects to the swtpm; it serves one client at a time, so close
// before running a tool against it.
func (s *swtpm) dial(t *testing.T) *connTPM {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), 5*time.Second)
	if err != nil {
		t.Fatalf("dial swtpm: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &connTPM{c}
}

func (c *connTPM) Send(cmd []byte) ([]byte, error) {
	if err := c.c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := c.c.Write(cmd); err != nil {
		return nil, err
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(c.c, hdr); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > 1<<16 {
		return nil, fmt.Errorf("response size %d", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(c.c, rsp[10:]); err != nil {
		return nil, err
	}
	return rsp, nil
}

func (c *connTPM) Close() error { return c.c.Close() }

// tool runs a tpm2-tools command against s, with stdin, and returns its
// stdout; it fails the test if the tool fails.
func (s *swtpm) tool(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := s.tryTool(t, stdin, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryTool is tool returning the tool's failure.
func (s *swtpm) tryTool(t *testing.T, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath(name)
	requireTool(t, err, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-T", s.tcti}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %v: %w: %s", name, args, err, stderr.String())
	}
	return out, nil
}
