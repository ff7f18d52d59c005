package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time from git describe:
//
//	go build -ldflags "-X main.version=$(git describe --tags --always --dirty)" ./cmd/tpmfs
//
// contrib/deb/build always sets it.
var version string

func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fmt.Sprintf("tpmfs %s %s %s/%s", buildVersion(version, bi), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildVersion is the version stamped at build time, else the best the
// build information holds: the module version (go install …@v1.2.3, or a
// pseudo-version from a git checkout since Go 1.24), else the commit it
// was built from. Go's "(devel)" says nothing, so it is never shown.
func buildVersion(stamped string, bi *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if bi == nil {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "unknown (built without version information)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return "commit-" + strings.ToLower(rev)
}
