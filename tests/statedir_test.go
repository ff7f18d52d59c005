package tests

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// mountTmpfs mounts a small tmpfs on dir until the test ends (after the
// tpmfs mounted later has gone).
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 16<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// Sealing into a full or read-only state directory fails where a shell
// sees it: at open (or write), with ENOSPC or EROFS, and the old secret
// stays; once there is room (or write access) again, sealing works, with
// no restart.
func TestSealStateDirFullOrReadOnly(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	mountTmpfs(t, state, "size=256k,mode=0700")
	m := mountTPM(t, tpm.Source(), "state="+state)
	old := []byte("the old secret")
	sealSecret(t, m, "k", old)

	filler := filepath.Join(state, ".filler") // dot files are not objects
	fillDisk(t, filler)
	if err := writeFile(m.Path("seal", "k", "data"), []byte("does not fit")); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("seal into a full state dir: err = %v, want ENOSPC", err)
	}
	if out, err := shErr("echo does not fit > " + m.Path("seal", "k", "data")); err == nil || !strings.Contains(out, "No space left") {
		t.Errorf("echo into a full state dir: %v, %q; want a failure the shell reports", err, out)
	}
	expectSecret(t, m, "k", old)
	if err := os.Mkdir(m.Path("seal", "k2"), 0o700); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("mkdir in a full state dir: %v, want ENOSPC", err)
	}
	if _, err := os.Stat(m.Path("seal", "k2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a failed mkdir, seal/k2: %v", err)
	}
	os.Remove(filler)
	second := []byte("the second secret")
	if err := writeFile(m.Path("seal", "k", "data"), second); err != nil {
		t.Fatalf("seal after making room: %v", err)
	}
	expectSecret(t, m, "k", second)

	// Read-only: the state directory's file system remounted read-only
	// under the running daemon (as after an I/O error).
	if err := syscall.Mount("", state, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	rw := func() {
		if err := syscall.Mount("", state, "", syscall.MS_REMOUNT, ""); err != nil {
			t.Errorf("remount read-write: %v", err)
		}
	}
	if err := writeFile(m.Path("seal", "k", "data"), []byte("cannot be saved")); !errors.Is(err, syscall.EROFS) {
		t.Errorf("seal into a read-only state dir: err = %v, want EROFS", err)
	}
	if out, err := shErr("echo cannot be saved > " + m.Path("seal", "k", "data")); err == nil || !strings.Contains(out, "Read-only") {
		t.Errorf("echo into a read-only state dir: %v, %q; want a failure the shell reports", err, out)
	}
	expectSecret(t, m, "k", second)
	rw()
	third := []byte("the third secret")
	if err := writeFile(m.Path("seal", "k", "data"), third); err != nil {
		t.Fatalf("seal after write access returned: %v", err)
	}
	expectSecret(t, m, "k", third)
	m.alive(t)
}

// A corrupt or tampered state file gives EIO for its object, and only
// for it: the other objects, the listing and the daemon carry on.
func TestCorruptStateFileIsolated(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	m := mountTPM(t, tpm.Source(), "state="+state)
	good := []byte("the good secret")
	sealSecret(t, m, "good", good)
	sealSecret(t, m, "bad", []byte("the other secret"))
	path := filepath.Join(state, "bad.json")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("\x00\xffnot json at all")},
		{"truncated", orig[:len(orig)/2]},
		{"empty", nil},
		{"ciphertext flipped", tamper(t, orig, "ciphertext")},
		{"private area flipped", tamper(t, orig, "private")},
		{"public area flipped", tamper(t, orig, "public")},
	} {
		if err := os.WriteFile(path, tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := os.ReadFile(m.Path("seal", "bad", "data")); !errors.Is(err, syscall.EIO) {
			t.Errorf("%s: read bad/data: err = %v, want EIO", tc.name, err)
		}
		if err := writeFile(m.Path("seal", "bad", "pcrs"), []byte("sha256:0\n")); err == nil {
			t.Errorf("%s: writing bad/pcrs succeeded", tc.name)
		}
		expectSecret(t, m, "good", good)
		names, err := os.ReadDir(m.Path("seal"))
		if err != nil || len(names) != 2 {
			t.Errorf("%s: ls seal = %v, %v", tc.name, names, err)
		}
	}
	// The original file back: the object opens again.
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	expectSecret(t, m, "bad", []byte("the other secret"))
	// A corrupt object can be removed like any other.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := shErr("ls -l " + m.Path("seal") + " && rmdir " + m.Path("seal", "bad")); err != nil {
		t.Errorf("rmdir of a corrupt object: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after rmdir: %v", err)
	}
	expectSecret(t, m, "good", good)
	m.alive(t)
}

// tamper flips one bit in the middle of a base64 field of the sealed part.
func tamper(t *testing.T, file []byte, field string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	sealed, _ := doc["sealed"].(map[string]any)
	s, _ := sealed[field].(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("state file has no %s field: %v", field, err)
	}
	b[len(b)/2] ^= 0x10
	sealed[field] = base64.StdEncoding.EncodeToString(b)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
