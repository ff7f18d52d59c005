package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLicencesListed checks that NOTICE and the Debian package's
// copyright file name every module linked into tpmfs, so that a new
// dependency cannot ship without its licence.
func TestLicencesListed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	modules := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		modules[m] = true
	}
	if len(modules) == 0 {
		t.Fatal("go list found no modules")
	}
	for _, file := range []string{"../../NOTICE", "../../contrib/deb/copyright"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for m := range modules {
			if !strings.Contains(string(b), m) {
				t.Errorf("%s does not name %s, which tpmfs links", file, m)
			}
		}
	}
}
