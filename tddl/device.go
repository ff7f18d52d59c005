//go:build linux || freebsd

package tddl

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// device is a kernel TPM character device (/dev/tpmrm0, /dev/tpm0): one
// write carries a whole command, the next read returns the whole response.
type device struct {
	path   string
	f      *os.File
	closed atomic.Bool
}

func openDevice(path string) (TPM, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if isAbsent(err) {
			return nil, fmt.Errorf("open device %s: %w: %w", path, ErrUnreachable, err)
		}
		return nil, fmt.Errorf("open device %s: %w", path, err)
	}
	return &device{path: path, f: f}, nil
}

// isAbsent reports errors meaning there is no TPM to talk to (as opposed
// to one we may not use).
func isAbsent(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENXIO) ||
		errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EBUSY)
}

func (d *device) Send(cmd []byte) ([]byte, error) {
	if d.closed.Load() {
		return nil, fmt.Errorf("send to %s: %w", d.path, ErrClosed)
	}
	if err := checkCommand(cmd); err != nil {
		return nil, fmt.Errorf("send to %s: %w", d.path, err)
	}
	if _, err := d.f.Write(cmd); err != nil {
		return nil, d.ioError("write", err)
	}
	rsp := make([]byte, MaxCommandSize)
	n, err := d.read(rsp)
	if err != nil {
		return nil, d.ioError("read", err)
	}
	rsp = rsp[:n]
	if err := checkResponse(rsp); err != nil {
		return nil, fmt.Errorf("read %s: %w", d.path, err)
	}
	return rsp, nil
}

// read takes the whole response in one read(2). Go keeps a pollable
// device non-blocking, so Linux runs the command in the background and
// answers 0 bytes (or EAGAIN) until it is done; like tpm2-tss and go-tpm,
// wait for POLLIN then, rather than take 0 for end of file. Waiting in the
// runtime poller lets Close interrupt it.
func (d *device) read(rsp []byte) (int, error) {
	raw, err := d.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), rsp)
			if rerr != unix.EINTR {
				break
			}
		}
		notYet := (n == 0 && rerr == nil) || rerr == unix.EAGAIN
		return !notYet
	})
	switch {
	case err != nil && n == 0 && rerr == nil && !d.closed.Load():
		// A blocking file (no poller) that answered nothing.
		return 0, fmt.Errorf("no response: %w", ErrBadResponse)
	case err != nil:
		return 0, err
	}
	return n, rerr
}

func (d *device) ioError(op string, err error) error {
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%s %s: %w", op, d.path, ErrClosed)
	}
	return fmt.Errorf("%s %s: %w", op, d.path, err)
}

// Close closes the file; a Send blocked in the poller returns ErrClosed.
func (d *device) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.path, err)
	}
	return nil
}
