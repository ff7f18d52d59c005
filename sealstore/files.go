package sealstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The state directory's own files besides the objects (the event log,
// package measurelog) are reached as the objects are: through the
// directory's descriptor, without following symlinks, and only if they
// are regular files of the daemon's user. Their names start with a dot,
// which no object name does.

// checkOwnName refuses a name that is not one of tpmfs's own files: a
// dot name in the directory itself, not the lock.
func checkOwnName(name string) error {
	if !strings.HasPrefix(name, ".") || strings.Contains(name, "/") || name == "." || name == ".." ||
		name == lockName || isTemp(name) {
		return fmt.Errorf("%w: %q is not a name for one of tpmfs's own files", ErrInvalidName, name)
	}
	return nil
}

// OpenFile opens the state directory's own file name (a dot name; see
// above) with flag as open(2) takes it. A file it creates has mode 0600.
// A file that is a symlink, or not a regular file of the daemon's user,
// is refused with ErrUnsafe, and never opened for writing.
func (s *Store) OpenFile(name string, flag int) (*os.File, error) {
	if err := checkOwnName(name); err != nil {
		return nil, err
	}
	dirFD, release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	path := filepath.Join(s.dir, name)
	// O_NONBLOCK: a FIFO planted there must not hang the daemon. O_TRUNC
	// waits until the file is known to be ours.
	fd, err := unix.Openat(dirFD, name, flag&^unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("open %s: %w: it is a symlink; remove it", path, ErrUnsafe)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.trustedFile(&st); err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w: %w; remove it", path, ErrUnsafe, err)
	}
	if flag&unix.O_TRUNC != 0 {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("truncate %s: %w", path, err)
		}
	}
	return f, nil
}

// RenameFile renames the own file from to to, replacing to, and syncs
// the directory so that the rename survives a crash.
func (s *Store) RenameFile(from, to string) error {
	if err := errors.Join(checkOwnName(from), checkOwnName(to)); err != nil {
		return err
	}
	dirFD, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	if err := unix.Renameat(dirFD, from, dirFD, to); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(s.dir, from), New: filepath.Join(s.dir, to), Err: err}
	}
	if err := unix.Fsync(dirFD); err != nil {
		return fmt.Errorf("rename %s: sync dir %s: %w", from, s.dir, err)
	}
	return nil
}
