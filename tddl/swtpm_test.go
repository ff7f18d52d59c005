package tddl_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tddltest"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

// peer is a scripted stand-in for swtpm, for the failures a real swtpm
// will not produce on demand (oversized or cut responses, silence). It
// reads whole commands by their size field; each command is answered by
// the next scripted reply, then by echoing the command, which is a
// well-framed response.
type peer struct {
	l       net.Listener
	accepts atomic.Int32
	got     chan []byte
	mu      sync.Mutex
	script  []reply
}

// reply answers cmd on c and reports whether to keep the connection.
type reply func(c net.Conn, cmd []byte) bool

func startPeer(t *testing.T, script ...reply) *peer {
	t.Helper()
	return startPeerOn(t, "127.0.0.1:0", script...)
}

func startPeerOn(t *testing.T, addr string, script ...reply) *peer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{l: l, got: make(chan []byte, 16), script: script}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.accepts.Add(1)
			go p.serve(c)
		}
	}()
	return p
}

func (p *peer) serve(c net.Conn) {
	defer c.Close()
	for {
		hdr := make([]byte, 10)
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		cmd := make([]byte, binary.BigEndian.Uint32(hdr[2:6]))
		copy(cmd, hdr)
		if _, err := io.ReadFull(c, cmd[10:]); err != nil {
			return
		}
		p.got <- cmd
		p.mu.Lock()
		r := echo
		if len(p.script) > 0 {
			r, p.script = p.script[0], p.script[1:]
		}
		p.mu.Unlock()
		if !r(c, cmd) {
			return
		}
	}
}

func (p *peer) open(t *testing.T) tddl.TPM {
	t.Helper()
	port := p.l.Addr().(*net.TCPAddr).Port
	tpm, err := tddl.Open(source.Config{Kind: source.Swtpm, Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tpm.Close() })
	// Bound every test: a hang becomes a deadline error.
	if err := tpm.(tddl.Deadliner).SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return tpm
}

func echo(c net.Conn, cmd []byte) bool { _, err := c.Write(cmd); return err == nil }

// header answers a 10-byte header claiming size bytes, then hangs up.
func header(size uint32) reply {
	return func(c net.Conn, cmd []byte) bool {
		h := make([]byte, 10)
		binary.BigEndian.PutUint16(h, 0x8001)
		binary.BigEndian.PutUint32(h[2:], size)
		c.Write(h)
		return false
	}
}

// silent never answers; it waits for the client to hang up.
func silent(c net.Conn, cmd []byte) bool { io.Copy(io.Discard, c); return false }

func TestSwtpmBadResponses(t *testing.T) {
	p := startPeer(t,
		header(tddl.MaxCommandSize+1),
		header(9),
		header(20), // promises 10 more bytes, then hangs up
		func(c net.Conn, cmd []byte) bool { return false },
	)
	tpm := p.open(t)
	cmd := tddltest.GetRandomCmd(0x8001)
	for i, want := range []error{tddl.ErrBadResponse, tddl.ErrBadResponse, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF} {
		if _, err := tpm.Send(cmd); !errors.Is(err, want) {
			t.Fatalf("reply %d: Send = %v, want %v", i, err, want)
		}
	}
	// Every failure dropped the connection; the next Send redials.
	rsp, err := tpm.Send(cmd)
	if err != nil || !bytes.Equal(rsp, cmd) {
		t.Fatalf("Send after failures = %x, %v; want the echo %x", rsp, err, cmd)
	}
	if n := p.accepts.Load(); n != 5 {
		t.Fatalf("peer saw %d connections, want 5 (one per failure, one fresh)", n)
	}
}

func TestSwtpmCloseUnblocksSend(t *testing.T) {
	p := startPeer(t, silent)
	tpm := p.open(t)
	done := make(chan error, 1)
	go func() { _, err := tpm.Send(tddltest.GetRandomCmd(0x8001)); done <- err }()
	<-p.got // the command is on the wire, Send waits for the answer
	if err := tpm.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, tddl.ErrClosed) {
			t.Fatalf("blocked Send after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock Send")
	}
}

func TestSwtpmDeadline(t *testing.T) {
	p := startPeer(t, silent)
	tpm := p.open(t)
	d := tpm.(tddl.Deadliner)
	if err := d.SetDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := tpm.Send(tddltest.GetRandomCmd(0x8001)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send to a silent peer = %v, want os.ErrDeadlineExceeded", err)
	}
	if err := d.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	// A late answer to the timed-out command must not be taken for the
	// next one: the connection was dropped and is dialled anew.
	cmd := tddltest.GetRandomCmd(0x8001)
	if rsp, err := tpm.Send(cmd); err != nil || !bytes.Equal(rsp, cmd) {
		t.Fatalf("Send after deadline = %x, %v", rsp, err)
	}
	if n := p.accepts.Load(); n != 2 {
		t.Fatalf("peer saw %d connections, want 2", n)
	}
}

func TestSwtpmUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sock := filepath.Join(t.TempDir(), "none")
	for _, cfg := range []source.Config{
		{Kind: source.Swtpm, Host: "127.0.0.1", Port: port},
		{Kind: source.Swtpm, Path: sock},
	} {
		_, err := tddl.Open(cfg)
		if !errors.Is(err, tddl.ErrUnreachable) {
			t.Errorf("Open(%s) = %v, want ErrUnreachable", cfg, err)
		}
		addr := sock
		if cfg.Path == "" {
			addr = fmt.Sprintf("127.0.0.1:%d", port)
		}
		if err != nil && !strings.Contains(err.Error(), addr) {
			t.Errorf("Open(%s) error %q does not name %s", cfg, err, addr)
		}
	}
}

// recorder keeps the last exchange that went through it.
type recorder struct {
	tddl.TPM
	cmd, rsp []byte
}

func (r *recorder) Send(cmd []byte) ([]byte, error) {
	rsp, err := r.TPM.Send(cmd)
	r.cmd, r.rsp = cmd, rsp
	return rsp, err
}

// TestSwtpmAgreesWithTools checks tddl against tpm2-tools on the same
// swtpm: raw exchanges give the same bytes, and PCR changes made by one
// are seen by the other. swtpm serves one client at a time, so each side
// closes before the other talks.
func TestSwtpmAgreesWithTools(t *testing.T) {
	swtpmtest.Require(t, "tpm2_send", "tpm2_pcrread", "tpm2_pcrextend")
	p := swtpmtest.Start(t)
	cfg := mustParse(t, p.Source())
	dir := t.TempDir()
	withTPM := func(f func(tpm tddl.TPM)) {
		tpm, err := tddl.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer tpm.Close()
		f(tpm)
	}

	// Same command bytes, same response bytes.
	var cmds [][]byte
	var rsps [][]byte
	withTPM(func(tpm tddl.TPM) {
		rec := &recorder{TPM: tpm}
		if _, err := (tpm2.GetCapability{Capability: tpm2.TPMCapAlgs, PropertyCount: 64}).Execute(rec); err != nil {
			t.Fatal(err)
		}
		cmds, rsps = append(cmds, rec.cmd), append(rsps, rec.rsp)
		bad := tddltest.GetRandomCmd(0x1234)
		rsp, err := tpm.Send(bad)
		if err != nil {
			t.Fatal(err)
		}
		cmds, rsps = append(cmds, bad), append(rsps, rsp)
	})
	for i, cmd := range cmds {
		in, out := filepath.Join(dir, "cmd"), filepath.Join(dir, "rsp")
		if err := os.WriteFile(in, cmd, 0o600); err != nil {
			t.Fatal(err)
		}
		p.Tool(t, nil, "tpm2_send", "-o", out, in)
		want, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rsps[i], want) {
			t.Errorf("command %x: tddl got %x, tpm2_send got %x", cmd, rsps[i], want)
		}
	}

	// tddl extends, tpm2_pcrread sees it.
	var want [32]byte
	withTPM(func(tpm tddl.TPM) {
		old := tddltest.ReadPCR(t, tpm, tddltest.DebugPCR)
		d := sha256.Sum256([]byte("from tddl"))
		tddltest.ExtendPCR(t, tpm, tddltest.DebugPCR, d[:])
		want = sha256.Sum256(append(old, d[:]...))
	})
	pcrFile := filepath.Join(dir, "pcr")
	p.Tool(t, nil, "tpm2_pcrread", "-o", pcrFile, fmt.Sprintf("sha256:%d", tddltest.DebugPCR))
	if got, err := os.ReadFile(pcrFile); err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("tpm2_pcrread = %x, %v; want %x", got, err, want)
	}

	// tpm2_pcrextend extends, tddl sees it.
	d := sha256.Sum256([]byte("from tpm2-tools"))
	p.Tool(t, nil, "tpm2_pcrextend", fmt.Sprintf("%d:sha256=%s", tddltest.DebugPCR, hex.EncodeToString(d[:])))
	want = sha256.Sum256(append(want[:], d[:]...))
	withTPM(func(tpm tddl.TPM) {
		if got := tddltest.ReadPCR(t, tpm, tddltest.DebugPCR); !bytes.Equal(got, want[:]) {
			t.Fatalf("tddl read %x after tpm2_pcrextend, want %x", got, want)
		}
	})
}
