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

// lockDir takes an exclusive flock on .lock in the directory open at
// dirFD, so that two daemons never write one state directory. flock (not
// fcntl) locks belong to the open file, so a second Open in the same
// process is refused too, and the kernel drops the lock when the holder
// dies, even by SIGKILL. The lock file is opened without following
// symlinks and must be a regular file of the daemon's user: a planted
// link never makes tpmfs truncate or write another file.
func lockDir(dirFD int, dir string, uid int) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	// The lock is held on a read-only descriptor (flock needs no write
	// access), so that tpmfs keeps no file open for writing and the state
	// directory's file system can be remounted read-only under it.
	flags := unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	fd, err := unix.Openat(dirFD, lockName, flags|unix.O_RDONLY|unix.O_CREAT, 0o600)
	if errors.Is(err, unix.EROFS) {
		fd, err = unix.Openat(dirFD, lockName, flags|unix.O_RDONLY, 0)
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("lock state dir %s: %w: %s is a symlink; remove it", dir, ErrUnsafe, path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock state dir %s: open %s: %w", dir, path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state dir %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != uid {
		f.Close()
		return nil, fmt.Errorf("lock state dir %s: %w: %s is not a regular file owned by uid %d; remove it", dir, ErrUnsafe, path, uid)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is used by another tpmfs%s (lock file %s)", ErrLocked, dir, holder, path)
		}
		return nil, fmt.Errorf("lock state dir %s: flock %s: %w", dir, path, err)
	}
	writeHolder(dirFD)
	return f, nil
}

// writeHolder writes our pid into the lock file, a hint for the error
// above. It opens the file (the one we just locked: we hold the
// directory) for this write only; failing (read-only directory) does not
// matter.
func writeHolder(dirFD int) {
	fd, err := unix.Openat(dirFD, lockName, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	unix.Write(fd, []byte(strconv.Itoa(os.Getpid())+"\n"))
	unix.Close(fd)
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
