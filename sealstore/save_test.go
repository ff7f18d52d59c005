package sealstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// TestSaveFailsBeforeRename interrupts Save after the new content is
// written and synced but before it replaces the old file.
func TestSaveFailsBeforeRename(t *testing.T) {
	s := openStore(t, t.TempDir())
	old := sealedRecord("obj", 100, 11)
	mustSave(t, s, old)
	oldBytes := readFile(t, objPath(s, "obj"))

	boom := errors.New("injected failure")
	var sawTemp bool
	s.beforeRename = func(tmp string) error {
		fi, err := os.Stat(tmp)
		if err != nil {
			t.Errorf("temp file: %v", err)
			return boom
		}
		sawTemp = true
		if filepath.Dir(tmp) != s.Dir() || fi.Mode() != 0o600 {
			t.Errorf("temp file %s mode %v, want 0600 in the state dir", tmp, fi.Mode())
		}
		// The temp file is complete before the rename.
		if _, err := decode(readFile(t, tmp)); err != nil {
			t.Errorf("temp file does not hold the whole record: %v", err)
		}
		return boom
	}
	err := s.Save(sealedRecord("obj", 5000, 12))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "obj") {
		t.Fatalf("Save = %v, want the injected failure naming the object", err)
	}
	if !sawTemp {
		t.Fatal("hook did not run")
	}
	if !bytes.Equal(readFile(t, objPath(s, "obj")), oldBytes) {
		t.Error("old file changed")
	}
	if tmps := tempFiles(t, s.Dir()); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
	// A first save that fails leaves no object at all.
	if err := s.Save(bareRecord("new")); !errors.Is(err, boom) {
		t.Fatalf("Save = %v", err)
	}
	if s.Exists("new") {
		t.Error("failed first save created the object")
	}
}

// TestSaveDiskFull fills a small tmpfs and checks that a seal that does
// not fit fails with ENOSPC and leaves the old secret.
func TestSaveDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, "64k")
	s := openStore(t, filepath.Join(mnt, "state"))
	old := sealedRecord("obj", 100, 13)
	mustSave(t, s, old)
	oldBytes := readFile(t, objPath(s, "obj"))

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	f.Close()

	err = s.Save(sealedRecord("obj", 8000, 14))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Save on a full disk = %v, want ENOSPC", err)
	}
	t.Logf("full disk: %v", err)
	if !bytes.Equal(readFile(t, objPath(s, "obj")), oldBytes) {
		t.Error("old file changed")
	}
	if got, err := s.Load("obj"); err != nil || !reflect.DeepEqual(got, old) {
		t.Errorf("Load after failed save = %v, %v", got, err)
	}
	if tmps := tempFiles(t, s.Dir()); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, sealedRecord("obj", 8000, 14))
}

// TestSaveReadOnlyDir makes the file system of the state directory
// read-only under an open store (root ignores mode bits), then reopens it
// read-only.
func TestSaveReadOnlyDir(t *testing.T) {
	dir := filepath.Join(mountTmpfs(t, "1m"), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := sealedRecord("obj", 100, 15)
	mustSave(t, s, old)
	oldBytes := readFile(t, objPath(s, "obj"))

	undo := remountReadOnly(t, filepath.Dir(dir))
	if err := s.CheckRoom(EncodedSize(200)); !errors.Is(err, syscall.EROFS) {
		t.Errorf("CheckRoom in a read-only dir = %v, want EROFS", err)
	}
	err = s.Save(sealedRecord("obj", 200, 16))
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Save in a read-only dir = %v, want EROFS", err)
	}
	t.Logf("read-only dir: %v", err)
	if err := s.Remove("obj"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("Remove in a read-only dir = %v, want EROFS", err)
	}
	if got, err := s.Load("obj"); err != nil || !reflect.DeepEqual(got, old) {
		t.Errorf("Load from a read-only dir = %v, %v", got, err)
	}

	// A read-only state dir can still be opened and read.
	s.Close()
	ro, err := Open(dir)
	if err != nil {
		t.Fatalf("Open of a read-only dir: %v", err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("read-only Open does not lock: %v", err)
	}
	if names, err := ro.List(); err != nil || !reflect.DeepEqual(names, []string{"obj"}) {
		t.Errorf("List = %v, %v", names, err)
	}
	ro.Close()

	undo()
	if !bytes.Equal(readFile(t, objPath(s, "obj")), oldBytes) {
		t.Error("old file changed")
	}
	if tmps := tempFiles(t, dir); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
	s2 := openStore(t, dir)
	mustSave(t, s2, sealedRecord("obj", 200, 16))
}
