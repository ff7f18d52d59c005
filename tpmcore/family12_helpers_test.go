package tpmcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"tpmfs/tddl"
)

// need12Tools skips without swtpm's tools, or fails under
// TPMFS_TEST_REQUIRE=1.
func need12Tools(t *testing.T) {
	t.Helper()
	for _, n := range []string{"swtpm", "swtpm_setup"} {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("TPMFS_TEST_REQUIRE") == "1" {
				t.Fatalf("%s not found, and TPMFS_TEST_REQUIRE=1", n)
			}
			t.Skipf("%s not found", n)
		}
	}
}

// startSwtpm12 manufactures a TPM 1.2 state (EK; with owned, also an
// owner, whose SRK secret swtpm_setup's --srk-well-known makes the SHA-1
// of 20 zero bytes) and runs swtpm on it, stopped by pid at cleanup. It
// returns the data port.
func startSwtpm12(t *testing.T, owned bool) int {
	t.Helper()
	need12Tools(t)
	dir := t.TempDir()
	args := []string{"--tpm-state", dir, "--createek"}
	if owned {
		args = append(args, "--take-ownership", "--owner-well-known", "--srk-well-known")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "swtpm_setup", args...).CombinedOutput(); err != nil {
		t.Fatalf("swtpm_setup %v: %v\n%s", args, err, out)
	}
	var lastErr error
	for range 5 { // a port found free may be taken before swtpm binds it
		port, err := freePortPair12()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("swtpm", "socket", "--tpmstate", "dir="+dir,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
			"--flags", "not-need-init,startup-clear")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("swtpm pid %d did not exit", cmd.Process.Pid)
			}
		}
		if lastErr = waitPort12(port+1, exited); lastErr == nil {
			t.Cleanup(stop)
			return port
		}
		stop()
	}
	t.Fatalf("swtpm did not start: %v", lastErr)
	return 0
}

func freePortPair12() (int, error) {
	for range 20 {
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
	return 0, errors.New("no free port pair")
}

// waitPort12 polls the control port (the data port serves one client,
// which the core will be) until it accepts, swtpm exits, or 10s pass.
func waitPort12(port int, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("swtpm exited")
		default:
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("port %d not listening after 10s", port)
}

// newCore12 runs a Core on the swtpm at port through tddl's swtpm
// backend; its log goes to the returned hook.
func newCore12(t *testing.T, port int, ownerAuth []byte) (*Core, *logtest.Hook) {
	t.Helper()
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	cfg := tddl.Config{Kind: tddl.KindSwtpm, Host: "127.0.0.1", Port: port}
	c, err := New(func() (tddl.TPM, error) { return tddl.Open(cfg) }, Options{
		Source: cfg.String(), OwnerAuth: ownerAuth, Log: logrus.NewEntry(log),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, hook
}

// clientTPM is a raw Client as a transport.TPM.
type clientTPM struct{ cl *Client }

func (c clientTPM) Send(cmd []byte) ([]byte, error) {
	return c.cl.Transmit(context.Background(), cmd)
}
