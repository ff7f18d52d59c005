package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestBuildVersion(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	rev := "b346b175ab4df8e8fb69741b57fe39958aac719e"
	tests := []struct {
		name, stamped string
		bi            *debug.BuildInfo
		want          string
	}{
		{"stamped wins", "v1.2.3-4-gb346b17", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}}, "v1.2.3-4-gb346b17"},
		{"module version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"pseudo-version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261126143711-b346b175ab4d+dirty"}}, "v0.0.0-20261126143711-b346b175ab4d+dirty"},
		{"commit", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "false")}, "commit-b346b175ab4d"},
		{"dirty commit", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true")}, "commit-b346b175ab4d-dirty"},
		{"nothing", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "unknown (built without version information)"},
		{"no build info", "", nil, "unknown"},
	}
	for _, tt := range tests {
		if got := buildVersion(tt.stamped, tt.bi); got != tt.want {
			t.Errorf("%s: buildVersion = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestVersionStamped builds tpmfs as contrib/deb/build does, with the
// version set by -ldflags -X, and checks that --version prints it.
func TestVersionStamped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "tpmfs")
	const v = "v1.2.3-4-gabcdef0-dirty"
	build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+v, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); !strings.HasPrefix(got, "tpmfs "+v+" go") || strings.Contains(got, "(devel)") {
		t.Errorf("--version printed %q, want tpmfs %s and the Go version", got, v)
	}
}
