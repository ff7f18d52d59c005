package swtpmtest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// FreePortPair is FindPortPair failing the test on error.
func FreePortPair(t testing.TB) int {
	t.Helper()
	p, err := FindPortPair()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FindPortPair returns a TCP port P on 127.0.0.1 with P+1 also free now
// (swtpm's control channel), chosen by the kernel so that concurrent runs
// do not collide. Another process may take them before they are bound:
// Launch retries with a new pair.
func FindPortPair() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, errors.New("find a free port: no free pair of TCP ports after 50 tries")
}

// WaitListening polls until addr accepts a connection, which it closes at
// once. It gives up when exited closes (the server died) or after
// timeout.
func WaitListening(network, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return errors.New("exited before listening on " + addr)
		default:
		}
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
