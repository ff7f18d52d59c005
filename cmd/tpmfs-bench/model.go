//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tpmwire"
	"tpmfs/tddl"
	"tpmfs/tddl/latency"
	"tpmfs/tddl/source"
)

// modelProxy puts a latency model in front of swtpm: it serves swtpm's
// socket data channel on a local port and passes every command of every
// connection through one latency.Model to the real swtpm. The direct
// client and the daemon both connect to it, so they meet the same
// modelled TPM over the same kind of connection, and the model counts
// what each operation sent.
type modelProxy struct {
	ln, ctrl net.Listener
	model    *latency.Model
	upstream source.Config
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// startModelProxy listens on a port pair, as swtpm does: the data
// channel, modelled, and next to it the control channel, relayed as it
// is (tpm2-tss's swtpm TCTI sets the locality there).
func startModelProxy(upstream source.Config, p *latency.Profile) (*modelProxy, error) {
	port, err := swtpmtest.FindPortPair()
	if err != nil {
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	ctrl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	x := &modelProxy{ln: ln, ctrl: ctrl, model: latency.New(p), upstream: upstream, conns: map[net.Conn]bool{}}
	x.wg.Add(2)
	go x.accept(ln, x.serve)
	go x.accept(ctrl, x.relayCtrl)
	return x, nil
}

// source is what clients connect to.
func (x *modelProxy) source() source.Config {
	return source.Config{Kind: source.Swtpm, Host: "127.0.0.1", Port: x.ln.Addr().(*net.TCPAddr).Port}
}

func (x *modelProxy) accept(ln net.Listener, serve func(net.Conn)) {
	defer x.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		x.mu.Lock()
		x.conns[c] = true
		x.mu.Unlock()
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			serve(c)
			x.mu.Lock()
			delete(x.conns, c)
			x.mu.Unlock()
		}()
	}
}

// serve relays one client's commands; swtpm serves one connection at a
// time, and so does each connection here (its own upstream one).
func (x *modelProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := tddl.Open(x.upstream)
	if err != nil {
		return
	}
	conn := x.model.Wrap(up)
	defer conn.Close()
	for {
		cmd, err := tpmwire.ReadFrame(c, tpmwire.MaxSize)
		if err != nil {
			return
		}
		rsp, err := conn.Send(cmd)
		if err != nil {
			return
		}
		if _, err := c.Write(rsp); err != nil {
			return
		}
	}
}

// relayCtrl passes a control channel connection through to swtpm's.
func (x *modelProxy) relayCtrl(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", net.JoinHostPort(x.upstream.Host, strconv.Itoa(x.upstream.Port+1)))
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	relay := func(to, from net.Conn) { io.Copy(to, from); done <- struct{}{} }
	go relay(up, c)
	go relay(c, up)
	<-done
}

// close stops accepting, ends every connection and waits for them.
func (x *modelProxy) close() {
	x.ln.Close()
	x.ctrl.Close()
	x.mu.Lock()
	for c := range x.conns {
		c.Close()
	}
	x.mu.Unlock()
	x.wg.Wait()
}

// opCost is what the modelled TPM served for ops operations.
type opCost struct {
	stats latency.Stats
	ops   int
}

func (c opCost) add(d opCost) opCost {
	if c.stats.Count == nil {
		return d
	}
	out := opCost{ops: c.ops + d.ops, stats: latency.Stats{Count: map[latency.Kind]int{}, ByKind: map[latency.Kind]time.Duration{},
		Modelled: c.stats.Modelled + d.stats.Modelled}}
	for _, s := range []latency.Stats{c.stats, d.stats} {
		for k, n := range s.Count {
			out.stats.Count[k] += n
		}
		for k, t := range s.ByKind {
			out.stats.ByKind[k] += t
		}
	}
	return out
}

// meter measures what operations cost on a model; a nil meter measures
// nothing.
type meter struct{ model *latency.Model }

// span counts from now until the returned function is called with the
// number of operations done.
func (m *meter) span() func(ops int) opCost {
	if m == nil {
		return func(int) opCost { return opCost{} }
	}
	before := m.model.Stats()
	return func(ops int) opCost { return opCost{stats: m.model.Stats().Sub(before), ops: ops} }
}
