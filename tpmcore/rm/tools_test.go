package rm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tpmwire"
)

// The tpm2-tools test runs real tpm2-tools processes, each one client of
// a manager over swtpm, without a mount: the tools' cmd TCTI starts this
// test binary as a proxy (see TestMain) that pipes the tool's commands to
// a Unix socket served by the test, one space per connection.

const proxyEnv = "TPMFS_RM_TEST_PROXY"

func TestMain(m *testing.M) {
	if sock := os.Getenv(proxyEnv); sock != "" {
		os.Exit(proxy(sock))
	}
	os.Exit(m.Run())
}

// proxy copies stdin to the socket and the socket to stdout until the
// tool closes its end and the server has answered everything.
func proxy(sock string) int {
	c, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		return 1
	}
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		_ = c.(*net.UnixConn).CloseWrite()
	}()
	_, _ = io.Copy(os.Stdout, c)
	return 0
}

// haveCmdTCTI reports whether tpm2-tss's cmd TCTI, through which the
// tools reach the proxy, is installed.
func haveCmdTCTI() bool {
	for _, pat := range []string{"/usr/lib/*/libtss2-tcti-cmd.so*", "/usr/lib/libtss2-tcti-cmd.so*", "/usr/local/lib/libtss2-tcti-cmd.so*", "/usr/lib64/libtss2-tcti-cmd.so*"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return true
		}
	}
	return false
}

// swtpmConn is swtpm's data channel. Like tpmcore's queue, it sends
// again while the TPM answers TPM_RC_RETRY, YIELDED or TESTING, so the
// manager sees what it will see in tpmfs.
type swtpmConn struct{ c *swtpmtest.Conn }

func (s *swtpmConn) Send(cmd []byte) ([]byte, error) {
	delay := time.Millisecond
	for try := 0; ; try++ {
		rsp, err := s.c.Send(cmd)
		if err != nil {
			return nil, err
		}
		switch binary.BigEndian.Uint32(rsp[6:10]) {
		case 0x922, 0x908, 0x90A: // RETRY, YIELDED, TESTING
			if try < 10 {
				time.Sleep(delay)
				delay *= 2
				continue
			}
		}
		return rsp, nil
	}
}

// rmServer gives each connection its own space, as each open of tpmrm0.
type rmServer struct {
	t    *testing.T
	m    *Manager
	tpm  transport.TPM
	uid  uint32     // the uid every client of this server runs as
	mu   sync.Mutex // exclusive use of the TPM
	open sync.WaitGroup
}

func serve(t *testing.T, m *Manager, tpm transport.TPM) (string, *rmServer) {
	sock := filepath.Join(t.TempDir(), "rm.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &rmServer{t: t, m: m, tpm: tpm}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.open.Add(1)
			go s.client(c)
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return sock, s
}

func (s *rmServer) client(c net.Conn) {
	defer s.open.Done()
	defer c.Close()
	sp, err := s.m.NewSpace(s.uid)
	if err != nil {
		s.t.Errorf("NewSpace: %v", err)
		return
	}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.m.Flush(s.tpm, sp); err != nil {
			s.t.Errorf("Flush: %v", err)
		}
	}()
	for {
		cmd, err := tpmwire.ReadFrame(c, tpmwire.MaxSize)
		if err != nil {
			return // the tool is done
		}
		s.mu.Lock()
		rsp, err := s.m.Transmit(s.tpm, sp, cmd)
		s.mu.Unlock()
		if err != nil {
			s.t.Errorf("Transmit: %v", err)
			return
		}
		if _, err := c.Write(rsp); err != nil {
			return
		}
	}
}

// idle waits until every client has gone and its space is flushed.
func (s *rmServer) idle(t *testing.T) {
	done := make(chan struct{})
	go func() { s.open.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("clients still open after 10s")
	}
}

// tool runs one tpm2-tools command as a client of the server at sock.
func tool(sock, dir string, stdin []byte, args ...string) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], append(args[1:], "-T", "cmd:"+self)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), proxyEnv+"="+sock, "TPM2TOOLS_TCTI=")
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, errb.String())
		}
		return out.Bytes(), nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s: timed out", strings.Join(args, " "))
	}
}

// sealFlow is tpm2-tools' seal and unseal across processes, each tool a
// new client that passes objects to the next through context files.
func sealFlow(sock, dir string, secret []byte) error {
	steps := [][]string{
		{"tpm2_createprimary", "-Q", "-C", "o", "-G", "ecc", "-c", "primary.ctx"},
		{"tpm2_create", "-Q", "-C", "primary.ctx", "-i", "-", "-u", "seal.pub", "-r", "seal.priv"},
		{"tpm2_load", "-Q", "-C", "primary.ctx", "-u", "seal.pub", "-r", "seal.priv", "-c", "seal.ctx"},
	}
	for _, s := range steps {
		if _, err := tool(sock, dir, secret, s...); err != nil {
			return err
		}
	}
	out, err := tool(sock, dir, nil, "tpm2_unseal", "-c", "seal.ctx")
	if err != nil {
		return err
	}
	if !bytes.Equal(out, secret) {
		return fmt.Errorf("unsealed %q, want %q", out, secret)
	}
	return nil
}

func TestTPM2ToolsThroughManager(t *testing.T) {
	swtpmtest.Require(t, "swtpm", "tpm2_createprimary")
	if !haveCmdTCTI() {
		swtpmtest.SkipOrFail(t, "libtss2-tcti-cmd missing")
	}

	tpm := &swtpmConn{swtpmtest.Start(t).Dial(t)}
	m := newManager(t, tpm)
	sock, srv := serve(t, m, tpm)

	t.Run("seal across processes", func(t *testing.T) {
		if err := sealFlow(sock, t.TempDir(), []byte("tools secret")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("policy session across processes", func(t *testing.T) {
		dir := t.TempDir()
		secret := []byte("pcr-bound")
		for _, s := range [][]string{
			{"tpm2_createprimary", "-Q", "-C", "o", "-G", "ecc", "-c", "primary.ctx"},
			{"tpm2_createpolicy", "-Q", "--policy-pcr", "-l", "sha256:0", "-L", "pcr.policy"},
			{"tpm2_create", "-Q", "-C", "primary.ctx", "-L", "pcr.policy", "-i", "-", "-u", "p.pub", "-r", "p.priv"},
			{"tpm2_load", "-Q", "-C", "primary.ctx", "-u", "p.pub", "-r", "p.priv", "-c", "p.ctx"},
			{"tpm2_startauthsession", "--policy-session", "-S", "session.ctx"},
			{"tpm2_policypcr", "-Q", "-S", "session.ctx", "-l", "sha256:0"},
		} {
			if _, err := tool(sock, dir, secret, s...); err != nil {
				t.Fatal(err)
			}
		}
		out, err := tool(sock, dir, nil, "tpm2_unseal", "-c", "p.ctx", "-p", "session:session.ctx")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, secret) {
			t.Fatalf("unsealed %q, want %q", out, secret)
		}
		if _, err := tool(sock, dir, nil, "tpm2_flushcontext", "session.ctx"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("20 createprimary in a row", func(t *testing.T) {
		dir := t.TempDir()
		for i := range 20 {
			if _, err := tool(sock, dir, nil, "tpm2_createprimary", "-Q", "-C", "o", "-G", "ecc", "-c", fmt.Sprintf("p%d.ctx", i)); err != nil {
				t.Fatalf("createprimary %d: %v", i+1, err)
			}
		}
	})

	t.Run("four clients at once", func(t *testing.T) {
		errs := make(chan error, 4)
		for i := range 4 {
			dir := t.TempDir()
			go func() { errs <- sealFlow(sock, dir, []byte(fmt.Sprintf("client %d", i))) }()
		}
		var all []error
		for range 4 {
			all = append(all, <-errs)
		}
		if err := errors.Join(all...); err != nil {
			t.Fatal(err)
		}
	})

	// A new client sees no objects of the clients before it, and once all
	// have closed the TPM holds nothing of theirs.
	out, err := tool(sock, t.TempDir(), nil, "tpm2_getcap", "handles-transient")
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("a new client sees transient handles:\n%s", s)
	}
	srv.idle(t)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	assertNothingLoaded(t, tpm)
	if hs := tpmHandles(t, tpm, capSavedSession); len(hs) != 0 {
		t.Errorf("sessions left in the TPM: %08x", hs)
	}
}
