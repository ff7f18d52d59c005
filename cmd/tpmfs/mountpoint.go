package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// checkMountPoint refuses a mount point where a mount would stack on
// another: a dead FUSE mount (its daemon gone: "Transport endpoint is not
// connected"), or anything mounted there already. The kernel would mount
// on top without a word, hiding the old mount; the error says what to do
// instead. A premounted /dev/fd/N is not a path and is not checked.
func checkMountPoint(path string) error {
	if _, ok := fuseFD(path); ok {
		return nil
	}
	st, err := os.Stat(path)
	m, mounted := mountedAt(path)
	if err == nil && mounted && strings.HasPrefix(m.fstype, "fuse") {
		// stat may answer from the kernel's cache for a while after the
		// daemon died; statfs always asks it.
		var fs syscall.Statfs_t
		if serr := syscall.Statfs(path, &fs); errors.Is(serr, syscall.ENOTCONN) {
			err = serr
		}
	}
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		what := "a FUSE file system"
		if mounted {
			what = fmt.Sprintf("%s (%s)", m.fstype, m.source)
		}
		return fmt.Errorf("mount point %s: %v: %s is still mounted there but its daemon is gone; unmount it first (umount %s, or fusermount3 -u %s as its owner), then mount again",
			path, syscall.ENOTCONN, what, path, path)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist; create it first (mkdir -p %s)", path, path)
	case err != nil:
		return fmt.Errorf("mount point %s: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("mount point %s is not a directory", path)
	case mounted:
		return fmt.Errorf("mount point %s is in use: %s (%s) is mounted there; unmount it first (umount %s) or choose another directory",
			path, m.fstype, m.source, path)
	}
	return nil
}

// mountEntry is what the mount table says of a mount point.
type mountEntry struct{ fstype, source string }
