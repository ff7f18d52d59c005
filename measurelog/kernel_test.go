package measurelog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// securityfs lays out a directory as securityfs does, with the logs given.
func securityfs(t *testing.T, tpm int, logs map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range kernelFiles {
		data, ok := logs[f.name]
		if !ok {
			continue
		}
		path := kernelPath(dir, f.path, tpm)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, data, 0o440); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestKernelLogsPresentAndAbsent(t *testing.T) {
	dir := securityfs(t, 1, map[string][]byte{"firmware": []byte("fw"), "ima-ascii": []byte("ima")})
	k := NewKernel(dir, 1)
	if got := k.Names(); len(got) != 2 || got[0] != "firmware" || got[1] != "ima-ascii" {
		t.Fatalf("names %v", got)
	}
	if got := NewKernel(dir, 0).Names(); len(got) != 1 {
		t.Errorf("tpm0 sees %v, want ima-ascii alone", got)
	}
	if got := NewKernel("", 0).Names(); len(got) != 0 {
		t.Errorf("no dir: %v", got)
	}
	if _, err := k.Open("ima-binary"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent log: %v", err)
	}
	// A symlink in place of a log is not followed.
	os.Remove(filepath.Join(dir, "ima", "ascii_runtime_measurements"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "ima", "ascii_runtime_measurements"))
	if _, err := k.Open("ima-ascii"); err == nil {
		t.Error("a symlink was followed")
	}
}

// Each open is the log as it was then; opens of a log that grew share
// its bytes.
func TestKernelSnapshotsStableAndShared(t *testing.T) {
	dir := securityfs(t, 0, map[string][]byte{"ima-ascii": []byte("line 1\n")})
	path := filepath.Join(dir, "ima", "ascii_runtime_measurements")
	k := NewKernel(dir, 0)
	a, err := k.Open("ima-ascii")
	if err != nil {
		t.Fatal(err)
	}
	var snaps []Snapshot
	for i := range 1000 {
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(sprintf("line %d\n", i+2))
		f.Close()
		s, err := k.Open("ima-ascii")
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
	}
	if b, _ := readAll(a); string(b) != "line 1\n" || a.Size() != 7 {
		t.Fatalf("the first snapshot changed: %q", b)
	}
	whole, _ := os.ReadFile(path)
	last, _ := readAll(snaps[999])
	if !bytes.Equal(last, whole) {
		t.Fatal("the last snapshot is not the file")
	}
	// A thousand snapshots of a growing log: a handful of buffers.
	buffers := map[*byte]bool{}
	for _, s := range snaps {
		buffers[unsafe.SliceData(s.(memSnapshot).b)] = true
	}
	if len(buffers) > 20 {
		t.Errorf("1000 snapshots use %d buffers", len(buffers))
	}
	if size, _ := k.Size("ima-ascii"); size != int64(len(whole)) {
		t.Errorf("Size %d, file %d", size, len(whole))
	}
	// A log replaced by another (not grown) is read afresh.
	os.WriteFile(path, []byte("other\n"), 0o440)
	if s, _ := k.Open("ima-ascii"); s.Size() != 6 {
		t.Errorf("after a rewrite: %d bytes", s.Size())
	}
	if b, _ := readAll(snaps[0]); !bytes.Equal(b, whole[:len(b)]) {
		t.Error("a rewrite changed an older snapshot")
	}
}
