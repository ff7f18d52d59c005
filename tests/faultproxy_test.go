package tests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// proxyMode is how the fault proxy treats each command.
type proxyMode int

const (
	proxyPass     proxyMode = iota // forward both ways
	proxyStall                     // take the command, never answer
	proxyDrop                      // hang up instead of forwarding
	proxyTruncate                  // forward, send back half the answer, hang up
	proxyCorrupt                   // forward, flip the response code and parameters
	proxyRetry                     // answer TPM_RC_RETRY without forwarding
)

var proxyModeNames = [...]string{"pass", "stall", "drop", "truncate", "corrupt", "retry"}

func (m proxyMode) String() string { return proxyModeNames[m] }

// faultProxy stands between tpmfs and a swtpm, like a TPM that misbehaves
// on request: tpmfs runs as its own process, so faults go on the wire.
// It listens on a port pair as swtpm does (commands on Port, swtpm's
// control channel, forwarded untouched, on Port+1). Each client
// connection gets its own connection to swtpm, opened at its first
// forwarded command (swtpm serves one at a time).
type faultProxy struct {
	Port     int
	upstream int // swtpm's port

	mu    sync.Mutex
	mode  proxyMode
	delay time.Duration
	seen  int // commands received
	lns   []net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, upstream int) *faultProxy {
	t.Helper()
	p := &faultProxy{upstream: upstream, conns: map[net.Conn]bool{}}
	for attempt := 0; ; attempt++ {
		port := swtpmtest.FreePortPair(t)
		data, err1 := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		ctrl, err2 := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		if err1 == nil && err2 == nil {
			p.Port, p.lns = port, []net.Listener{data, ctrl}
			break
		}
		for _, l := range []net.Listener{data, ctrl} {
			if l != nil {
				l.Close()
			}
		}
		if attempt == 10 {
			t.Fatalf("proxy: no port pair: %v %v", err1, err2)
		}
	}
	p.wg.Add(2)
	go p.accept(p.lns[0], p.serveData)
	go p.accept(p.lns[1], p.serveCtrl)
	t.Cleanup(p.close)
	return p
}

// Source is the tpmfs SOURCE that goes through the proxy.
func (p *faultProxy) Source() string { return fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", p.Port) }

// set changes how the following commands are treated; delay holds each
// one before it is handled.
func (p *faultProxy) set(m proxyMode, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.delay = m, delay
}

func (p *faultProxy) commands() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

func (p *faultProxy) close() {
	p.mu.Lock()
	for _, l := range p.lns {
		l.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track registers c so close can end it; false if the proxy is closed.
func (p *faultProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *faultProxy) accept(l net.Listener, serve func(net.Conn)) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			defer c.Close()
			serve(c)
		}()
	}
}

func (p *faultProxy) dialUp(port int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err == nil {
		p.track(c, true)
	}
	return c, err
}

func (p *faultProxy) serveCtrl(c net.Conn) {
	up, err := p.dialUp(p.upstream + 1)
	if err != nil {
		return
	}
	defer p.track(up, false)
	defer up.Close()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
}

// serveData handles one client connection, command by command.
func (p *faultProxy) serveData(c net.Conn) {
	var up net.Conn
	defer func() {
		if up != nil {
			p.track(up, false)
			up.Close()
		}
	}()
	for {
		cmd, err := readFrame(c)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.seen++
		mode, delay := p.mode, p.delay
		p.mu.Unlock()
		time.Sleep(delay)
		switch mode {
		case proxyStall:
			io.Copy(io.Discard, c) // until the client gives up
			return
		case proxyDrop:
			return
		case proxyRetry:
			rsp := make([]byte, 10)
			binary.BigEndian.PutUint16(rsp, 0x8001)
			binary.BigEndian.PutUint32(rsp[2:], 10)
			binary.BigEndian.PutUint32(rsp[6:], 0x922) // TPM_RC_RETRY
			if _, err := c.Write(rsp); err != nil {
				return
			}
			continue
		}
		if up == nil {
			if up, err = p.dialUp(p.upstream); err != nil {
				return
			}
		}
		if _, err := up.Write(cmd); err != nil {
			return
		}
		rsp, err := readFrame(up)
		if err != nil {
			return
		}
		switch mode {
		case proxyTruncate:
			c.Write(rsp[:len(rsp)/2])
			return
		case proxyCorrupt:
			for i := 6; i < len(rsp); i++ {
				rsp[i] ^= 0xff
			}
		}
		if _, err := c.Write(rsp); err != nil {
			return
		}
	}
}

// readFrame reads one TPM command or response: a 10-byte header, then
// the rest its size field announces.
func readFrame(r io.Reader) ([]byte, error) {
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[2:6])
	if n < 10 || n > 1<<16 {
		return nil, errors.New("proxy: bad frame size")
	}
	buf := make([]byte, n)
	copy(buf, hdr)
	if _, err := io.ReadFull(r, buf[10:]); err != nil {
		return nil, err
	}
	return buf, nil
}
