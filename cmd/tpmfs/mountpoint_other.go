//go:build !linux

package main

import (
	"os"
	"path/filepath"
	"syscall"
)

// mountedAt reports a mount point by its device differing from its
// parent's; there is no mountinfo to name what is mounted.
func mountedAt(path string) (mountEntry, bool) {
	var st, parent syscall.Stat_t
	if syscall.Stat(path, &st) != nil || syscall.Stat(filepath.Dir(path), &parent) != nil {
		return mountEntry{}, false
	}
	if st.Dev == parent.Dev || path == string(os.PathSeparator) {
		return mountEntry{}, false
	}
	return mountEntry{fstype: "a file system", source: "unknown source"}, true
}
