package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// mountedAt looks path up in /proc/self/mountinfo (the last mount there
// is the visible one). path is absolute; a symlink in it is resolved
// where that is possible (not through a dead mount).
func mountedAt(path string) (mountEntry, bool) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return mountEntry{}, false
	}
	defer f.Close()
	var (
		found mountEntry
		ok    bool
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [tags] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) || unescapeMountinfo(fields[4]) != path {
			continue
		}
		found, ok = mountEntry{fstype: fields[sep+1], source: unescapeMountinfo(fields[sep+2])}, true
	}
	return found, ok
}

// unescapeMountinfo undoes the kernel's octal escapes of space, tab,
// newline and backslash.
func unescapeMountinfo(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
