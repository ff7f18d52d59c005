//go:build unix

package tddl

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerHungUp reports whether an idle connection is no longer fit for the
// next command: swtpm closed it (it was restarted) or sent bytes nobody
// asked for. It peeks without blocking, so Send can redial before its
// command is lost instead of after.
func peerHungUp(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	stale := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		// n == 0 without error is end of stream; n > 0 is stray data.
		stale = !errors.Is(err, unix.EAGAIN) || n > 0
		return true // never wait for readiness
	})
	return stale || err != nil
}
