package sealstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockName is the lock file in the state directory. It starts with a dot,
// so no object name can collide with it.
const lockName = ".lock"

// lockDir takes an exclusive flock on dir/.lock, so that two daemons never
// write one state directory. flock (not fcntl) locks belong to the open
// file, so a second Open in the same process is refused too, and the
// kernel drops the lock when the holder dies, even by SIGKILL.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, unix.EROFS) {
		// A read-only state directory can still be read (ro mounts);
		// flock needs no write access.
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock state dir %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is used by another tpmfs%s (lock file %s)", ErrLocked, dir, holder, path)
		}
		return nil, fmt.Errorf("lock state dir %s: flock %s: %w", dir, path, err)
	}
	// The pid is only a hint for the error above; failing to write it
	// (read-only directory) does not matter.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func readHolder(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}

func unlockDir(f *os.File) error {
	// Closing the only descriptor of the open file releases the flock.
	return f.Close()
}
