package sealstore

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// openTrusted opens the directory dir after checking, as OpenSSH's
// StrictModes does, that nobody but root and uid can change it or any
// directory above it: each must belong to root or uid and be writable by
// its owner only. A directory that others may write is accepted above the
// state directory only if it is root's and sticky (/tmp): others can add
// entries there, but not replace the one we use. Symlinks on the way are
// resolved first and the real path checked. The check ends on the open
// descriptor, so the directory used is the one checked.
func openTrusted(dir string, uid int) (int, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return -1, fmt.Errorf("state dir %s: %w", dir, err)
	}
	parts := strings.Split(strings.TrimPrefix(real, "/"), "/")
	p := "/"
	for i := 0; i <= len(parts); i++ {
		if i > 0 {
			p = filepath.Join(p, parts[i-1])
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return -1, fmt.Errorf("state dir %s: %w", dir, err)
		}
		if err := trustedDir(p, &st, uid, p == real); err != nil {
			return -1, fmt.Errorf("state dir %s: %w", dir, err)
		}
	}
	fd, err := unix.Open(real, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("state dir %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := trustedDir(real, &st, uid, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("state dir %s: %w", dir, err)
	}
	return fd, nil
}

// trustedDir checks one directory on the way to (last: being) the state
// directory.
func trustedDir(path string, st *unix.Stat_t, uid int, last bool) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s: not a directory", path)
	}
	owner := int(st.Uid)
	if owner != 0 && owner != uid {
		return fmt.Errorf("%w: %s belongs to uid %d; it must belong to root or to tpmfs's uid %d", ErrUnsafe, path, owner, uid)
	}
	perm := st.Mode & 0o7777
	if perm&0o022 == 0 {
		return nil
	}
	if !last && owner == 0 && perm&unix.S_ISVTX != 0 {
		return nil
	}
	return fmt.Errorf("%w: %s is writable by group or others (mode %04o); only its owner may write it (chmod go-w %s)", ErrUnsafe, path, perm, path)
}
