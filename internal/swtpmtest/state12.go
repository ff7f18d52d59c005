package swtpmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// setupTimeout bounds swtpm_setup, which generates keys; waitDelay how
// long its output may linger after it was killed.
const (
	setupTimeout = time.Minute
	waitDelay    = time.Second
)

// states holds the TPM 1.2 states manufactured once per test binary (key
// generation takes a second or two) and copied for each swtpm.
var states struct {
	sync.Mutex
	inMain bool   // RunMain is running the tests, and will clean up
	root   string // created on first use
	dirs   map[bool]string
	ek     *EKState // StateEK's
}

// RunMain runs the tests, then removes the states State12 and StateEK
// made for them.
// Call it from TestMain: os.Exit(swtpmtest.RunMain(m)).
func RunMain(m *testing.M) int {
	states.Lock()
	states.inMain = true
	states.Unlock()
	code := m.Run()
	states.Lock()
	defer states.Unlock()
	if states.root != "" {
		os.RemoveAll(states.root)
		states.root, states.dirs, states.ek = "", nil, nil
	}
	return code
}

// State12 returns a TPM 1.2 state as from the factory, with an EK, made
// by swtpm_setup once per test binary; with owned it also has an owner
// whose owner and SRK secrets are swtpm_setup's well-known ones: the
// SHA-1 of 20 zero bytes, as from a password (not TrouSerS' -z secret).
// Use it through Start12 or Options.From: the directory is shared.
func State12(t testing.TB, owned bool) string {
	t.Helper()
	Require(t, "swtpm", "swtpm_setup")
	states.Lock()
	defer states.Unlock()
	if !states.inMain {
		t.Fatal("swtpmtest.State12 needs the package's TestMain to call swtpmtest.RunMain, which removes the states")
	}
	if d, ok := states.dirs[owned]; ok {
		return d
	}
	if states.root == "" {
		root, err := os.MkdirTemp("", "swtpmtest-states-")
		if err != nil {
			t.Fatal(err)
		}
		states.root = root
	}
	if states.dirs == nil {
		states.dirs = map[bool]string{}
	}
	dir := filepath.Join(states.root, fmt.Sprintf("owned-%v", owned))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"--tpm-state", dir, "--createek"}
	if owned {
		args = append(args, "--take-ownership", "--owner-well-known", "--srk-well-known")
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swtpm_setup", args...)
	cmd.WaitDelay = waitDelay
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("swtpm_setup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	states.dirs[owned] = dir
	return dir
}
