//go:build !linux

package main

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// readOnlyMountFlags: go-fuse mounts through mount_fusefs here, which
// takes "ro" from the options.
const readOnlyMountFlags = 0

// detach forces the unmount: there is no lazy unmount outside Linux.
func detach(mountpoint string) error { return unix.Unmount(mountpoint, unix.MNT_FORCE) }

// closeInheritedOnExec marks every fd above stderr close-on-exec (see
// sys_linux.go), walking /dev/fd.
func closeInheritedOnExec() {
	entries, err := os.ReadDir("/dev/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// setNotDumpable: only Linux has PR_SET_DUMPABLE.
func setNotDumpable() error { return nil }

// releaseStderr points fd 2 at /dev/null (see sys_linux.go).
func releaseStderr() error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	return unix.Dup2(int(null.Fd()), 2)
}
