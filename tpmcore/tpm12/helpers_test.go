package tpm12

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Bounds on every wait in these tests.
const (
	startTimeout = 10 * time.Second
	sendTimeout  = 20 * time.Second
	setupTimeout = 60 * time.Second
)

// requireTools skips the test when a tool is missing, or fails it when
// TPMFS_TEST_REQUIRE=1 says the tools must be there.
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("TPMFS_TEST_REQUIRE") == "1" {
				t.Fatalf("%s not found, and TPMFS_TEST_REQUIRE=1", n)
			}
			t.Skipf("%s not found", n)
		}
	}
}

// stateKind selects how a TPM 1.2 state is manufactured.
type stateKind int

const (
	// owned: EK, and ownership with well-known owner and SRK secrets.
	owned stateKind = iota
	// unowned: EK only, as a TPM leaves the factory.
	unowned
)

// templates holds one manufactured state per kind, made once per test
// binary (key generation takes a second) and copied for each TPM.
var templates struct {
	sync.Mutex
	root string
	dirs map[stateKind]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if templates.root != "" {
		os.RemoveAll(templates.root)
	}
	os.Exit(code)
}

func template(t *testing.T, kind stateKind) string {
	t.Helper()
	requireTools(t, "swtpm", "swtpm_setup")
	templates.Lock()
	defer templates.Unlock()
	if d, ok := templates.dirs[kind]; ok {
		return d
	}
	if templates.root == "" {
		root, err := os.MkdirTemp("", "tpm12-templates-")
		if err != nil {
			t.Fatal(err)
		}
		templates.root, templates.dirs = root, map[stateKind]string{}
	}
	dir := filepath.Join(templates.root, strconv.Itoa(int(kind)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"--tpm-state", dir, "--createek"}
	if kind == owned {
		args = append(args, "--take-ownership", "--owner-well-known", "--srk-well-known")
	}
	cmd := exec.Command("swtpm_setup", args...)
	cmd.WaitDelay = time.Second
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("swtpm_setup %v: %v\n%s", args, err, out)
		}
	case <-time.After(setupTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("swtpm_setup %v: no answer in %v", args, setupTimeout)
	}
	templates.dirs[kind] = dir
	return dir
}

// swtpm12 is a running swtpm in TPM 1.2 mode.
type swtpm12 struct {
	port int
}

// startSwtpm12 starts a TPM 1.2 swtpm on a copy of the kind's state,
// stopped (by its pid) when the test ends.
func startSwtpm12(t *testing.T, kind stateKind) *swtpm12 {
	t.Helper()
	return startSwtpm(t, template(t, kind), false)
}

// startSwtpm starts swtpm on a copy of the state in from ("" for a fresh
// one), as a TPM 2.0 when tpm2 is set.
func startSwtpm(t *testing.T, from string, tpm2 bool) *swtpm12 {
	t.Helper()
	requireTools(t, "swtpm")
	dir := t.TempDir()
	if from != "" {
		ents, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(from, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A port found free may be taken before swtpm binds it: retry.
	var lastErr error
	for range 5 {
		port, err := freePortPair()
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"socket", "--tpmstate", "dir=" + dir,
			"--server", fmt.Sprintf("type=tcp,port=%d", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d", port+1),
			"--flags", "not-need-init,startup-clear"}
		if tpm2 {
			args = append(args, "--tpm2")
		}
		cmd := exec.Command("swtpm", args...)
		log, err := os.Create(filepath.Join(dir, "swtpm.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); log.Close(); close(exited) }()
		if lastErr = waitListening(port, exited); lastErr == nil {
			t.Cleanup(func() {
				cmd.Process.Kill()
				select {
				case <-exited:
				case <-time.After(startTimeout):
					t.Errorf("swtpm pid %d did not exit", cmd.Process.Pid)
				}
			})
			return &swtpm12{port: port}
		}
		cmd.Process.Kill()
		<-exited
	}
	t.Fatalf("swtpm did not start: %v", lastErr)
	return nil
}

// freePortPair finds a port p such that p and p+1 are free now.
func freePortPair() (int, error) {
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

// waitListening polls until the control port accepts (the data port
// serves one client, which the test will be), swtpm exits, or time is up.
func waitListening(port int, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("swtpm exited")
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port+1), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("port %d not listening after %v", port+1, startTimeout)
}

// tcpTPM is a transport.TPM on swtpm's data channel with raw framing. It
// dials for each command, as tcsd -e does, so that another client (tcsd)
// can take turns on the one-client socket.
type tcpTPM struct {
	t       *testing.T
	addr    string
	sent    []uint32 // ordinals of the commands sent, in order
	last    []byte   // the last response
	lastCmd []byte   // the last command
}

func (s *swtpm12) tpm(t *testing.T) *tcpTPM {
	return &tcpTPM{t: t, addr: "127.0.0.1:" + strconv.Itoa(s.port)}
}

func (c *tcpTPM) Send(cmd []byte) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", c.addr, startTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(sendTimeout))
	if _, err := conn.Write(cmd); err != nil {
		return nil, err
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[2:])
	if size < 10 || size > 4096 {
		return nil, fmt.Errorf("response size %d", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(conn, rsp[10:]); err != nil {
		return nil, err
	}
	if len(cmd) >= 10 {
		c.sent = append(c.sent, binary.BigEndian.Uint32(cmd[6:]))
	}
	c.last, c.lastCmd = rsp, append([]byte(nil), cmd...)
	return rsp, nil
}
