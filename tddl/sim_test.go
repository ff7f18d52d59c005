package tddl_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

func openSim(t *testing.T, stateDir string) tddl.TPM {
	t.Helper()
	tpm, err := tddl.Open(source.Config{Kind: source.Sim, StateDir: stateDir})
	if errors.Is(err, tddl.ErrNotBuiltIn) {
		swtpmtest.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatalf("open sim: %v", err)
	}
	return tpm
}

// srkPublic opens the simulator, derives the standard ECC SRK and returns
// its public area.
func srkPublic(t *testing.T, stateDir string) []byte {
	t.Helper()
	tpm := openSim(t, stateDir)
	defer tpm.Close()
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("CreatePrimary: %v", err)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}).Execute(tpm); err != nil {
		t.Fatalf("FlushContext: %v", err)
	}
	return rsp.OutPublic.Bytes()
}

func TestSimStateKeepsSRK(t *testing.T) {
	base := t.TempDir()
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	a1 := srkPublic(t, dirA)
	a2 := srkPublic(t, dirA)
	b := srkPublic(t, dirB)
	if !bytes.Equal(a1, a2) {
		t.Errorf("SRK changed across a restart with the same state dir:\n%x\n%x", a1, a2)
	}
	if bytes.Equal(a1, b) {
		t.Errorf("two state dirs gave the same SRK %x", a1)
	}
	for path, want := range map[string]os.FileMode{dirA: 0o700 | os.ModeDir, filepath.Join(dirA, "seed"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode(), err, want)
		}
	}
	seed, err := os.ReadFile(filepath.Join(dirA, "seed"))
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := hex.DecodeString(strings.TrimSuffix(string(seed), "\n")); err != nil || len(raw) != 8 {
		t.Errorf("seed file %q is not 16 hex digits and a newline", seed)
	}
}

func TestSimWithoutStateIsFresh(t *testing.T) {
	if bytes.Equal(srkPublic(t, ""), srkPublic(t, "")) {
		t.Error("two simulators without a state dir derived the same SRK")
	}
}

func TestSimMalformedSeed(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "not a seed\n",
		"short":     "0123\n",
		"empty":     "",
		"signed":    "+123456789abcdef\n",
		"two lines": "0123456789abcdef\n0123456789abcdef\n",
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "seed")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := tddl.Open(source.Config{Kind: source.Sim, StateDir: dir})
		if errors.Is(err, tddl.ErrNotBuiltIn) {
			t.Skip(err)
		}
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: Open = %v, want a malformed-seed error naming %s", name, err, path)
		}
	}
	// The failed opens released the simulator.
	openSim(t, "").Close()
}

func TestSimSecondOpenFailsAtOnce(t *testing.T) {
	tpm := openSim(t, "")
	defer tpm.Close()
	done := make(chan error, 1)
	go func() {
		second, err := tddl.Open(source.Config{Kind: source.Sim})
		if err == nil {
			second.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, tddl.ErrBusy) {
			t.Fatalf("second Open = %v, want ErrBusy", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open blocked")
	}
}
