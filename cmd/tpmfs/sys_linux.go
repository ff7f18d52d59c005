package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// readOnlyMountFlags are mount(2)'s flags for -o ro when tpmfs mounts
// directly: go-fuse's defaults (nosuid, nodev) plus read-only.
const readOnlyMountFlags = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY

// detach unmounts lazily: the mount goes at once, open files later.
func detach(mountpoint string) error { return syscall.Unmount(mountpoint, syscall.MNT_DETACH) }

// closeInheritedOnExec marks every fd above stderr close-on-exec, so that
// descriptors this process inherited (from mount(8), a shell, a service
// manager) do not live on in the daemon and keep their other ends
// waiting. The fds the child needs are handed over explicitly.
func closeInheritedOnExec() {
	if unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	// Before Linux 5.11: walk the open descriptors.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// setNotDumpable clears the dumpable flag: no core dumps, and /proc/PID
// files owned by root, out of reach of ptrace by the same user.
func setNotDumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

// releaseStderr points fd 2 at /dev/null: a daemon that is ready gives
// its caller's stderr back, so that a caller reading it to the end (a
// shell's $(...), mount(8)) is not kept waiting.
func releaseStderr() error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	return unix.Dup3(int(null.Fd()), 2, 0)
}
