package sealstore

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// TestOpenRefusesUnsafeDirs: a state directory, or one above it, that
// someone else could change is refused with an error naming it; root's
// sticky /tmp-like directories above it are fine.
func TestOpenRefusesUnsafeDirs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	base := t.TempDir()
	cases := []struct {
		name  string
		setup func(dir string) (state, culprit string)
	}{
		{"group-writable state dir", func(dir string) (string, string) {
			s := filepath.Join(dir, "state")
			os.Mkdir(s, 0o700)
			os.Chmod(s, 0o770)
			return s, s
		}},
		{"world-writable parent", func(dir string) (string, string) {
			p := filepath.Join(dir, "parent")
			os.Mkdir(p, 0o700)
			os.Chmod(p, 0o777)
			return filepath.Join(p, "state"), p
		}},
		{"state dir of another user", func(dir string) (string, string) {
			s := filepath.Join(dir, "state")
			os.Mkdir(s, 0o700)
			os.Chown(s, 1000, 1000)
			return s, s
		}},
		{"parent of another user", func(dir string) (string, string) {
			p := filepath.Join(dir, "parent")
			os.Mkdir(p, 0o755)
			os.Chown(p, 1000, 1000)
			return filepath.Join(p, "state"), p
		}},
		{"sticky state dir", func(dir string) (string, string) {
			s := filepath.Join(dir, "state")
			os.Mkdir(s, 0o700)
			syscall.Chmod(s, 0o1777)
			return s, s
		}},
		{"symlink to an unsafe dir", func(dir string) (string, string) {
			p := filepath.Join(dir, "open")
			os.Mkdir(p, 0o700)
			os.Chmod(p, 0o777)
			os.Mkdir(filepath.Join(p, "state"), 0o700)
			link := filepath.Join(dir, "link")
			os.Symlink(filepath.Join(p, "state"), link)
			return link, p
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(base, string(rune('a'+i)))
			os.Mkdir(dir, 0o700)
			state, culprit := c.setup(dir)
			s, err := Open(state)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", state)
			}
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), culprit) {
				t.Errorf("Open(%s) = %v, want ErrUnsafe naming %s", state, err, culprit)
			}
		})
	}
	// A sticky, world-writable directory of root's above it is fine, as
	// /tmp is.
	sticky := filepath.Join(base, "tmp")
	os.Mkdir(sticky, 0o700)
	syscall.Chmod(sticky, 0o1777)
	openStore(t, filepath.Join(sticky, "state"))
}

// TestPlantedFilesNotFollowed: a lock file that is a symlink is refused
// and its target untouched; object files that are not the daemon's, or
// are links, are not listed or loaded.
func TestPlantedFilesNotFollowed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(target, []byte("keep me"), 0o644)
	if err := os.Symlink(target, filepath.Join(dir, ".lock")); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir); err == nil {
		s.Close()
		t.Fatal("Open with a planted .lock symlink succeeded")
	} else if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), ".lock") {
		t.Errorf("Open = %v, want ErrUnsafe naming .lock", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me" {
		t.Errorf("the symlink's target was changed: %q", b)
	}
	os.Remove(filepath.Join(dir, ".lock"))

	s := openStore(t, dir)
	mustSave(t, s, bareRecord("mine"))
	mustSave(t, s, bareRecord("theirs"))
	if err := os.Chown(objPath(s, "theirs"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	names, skipped, err := s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names, []string{"mine"}) || skipped["theirs"] == nil {
		t.Errorf("Scan = %v, skipped %v; want [mine] and theirs skipped", names, skipped)
	}
	if _, err := s.Load("theirs"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load of a file owned by another user = %v, want ErrCorrupt", err)
	}
	if s.Exists("theirs") {
		t.Error("Exists of a file owned by another user")
	}
}

func TestCheckRoomFull(t *testing.T) {
	mnt := mountTmpfs(t, "64k")
	s := openStore(t, filepath.Join(mnt, "state"))
	if err := s.CheckRoom(EncodedSize(100)); err != nil {
		t.Fatalf("CheckRoom on an empty tmpfs: %v", err)
	}
	if err := s.CheckRoom(EncodedSize(1 << 20)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("CheckRoom for 1 MiB on 64 KiB = %v, want ENOSPC", err)
	}
}

// TestVersion1Files: a version 1 file (no id) loads with an identity
// derived from its name and creation time, the same at every load, and
// is written back as the current version keeping it.
func TestVersion1Files(t *testing.T) {
	s := openStore(t, t.TempDir())
	v1 := `{"version": 1, "name": "old", "uid": 0, "gid": 0, "mode": "0700", "pcrs": "",
  "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"}`
	if err := os.WriteFile(objPath(s, "old"), []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := s.Load("old")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Load("old")
	if !validID(a.ID) || a.ID != b.ID {
		t.Fatalf("ids %q, %q: want one valid id", a.ID, b.ID)
	}
	other := strings.Replace(v1, "00:00:00Z\", \"modified", "00:00:01Z\", \"modified", 1)
	os.WriteFile(objPath(s, "old"), []byte(other), 0o600)
	if c, _ := s.Load("old"); c == nil || c.ID == a.ID {
		t.Errorf("an object created at another time has the same id")
	}
	os.WriteFile(objPath(s, "old"), []byte(v1), 0o600)
	mustSave(t, s, a)
	if !strings.Contains(string(readFile(t, objPath(s, "old"))), `"id": "`+a.ID+`"`) {
		t.Errorf("saved file does not keep the id:\n%s", readFile(t, objPath(s, "old")))
	}
	if got, _ := s.Load("old"); got.ID != a.ID {
		t.Errorf("id changed on save: %s, then %s", a.ID, got.ID)
	}
	if NewID() == NewID() || !validID(NewID()) {
		t.Error("NewID does not give fresh valid ids")
	}
}
