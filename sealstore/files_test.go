package sealstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Own files are opened through the directory, never through a planted
// symlink, FIFO or another user's file, and never truncated unless ours.
func TestOwnFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	f, err := s.OpenFile(".log", os.O_RDWR|os.O_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("mine\n")
	f.Close()
	if st, _ := os.Stat(filepath.Join(dir, ".log")); st.Mode().Perm() != 0o600 {
		t.Errorf("created with mode %v, want 0600", st.Mode().Perm())
	}
	if err := s.RenameFile(".log", ".log.1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".log.1")); string(b) != "mine\n" {
		t.Fatalf("renamed file holds %q", b)
	}
	if _, err := s.OpenFile(".log", os.O_RDONLY); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open of the old name: %v, want not exist", err)
	}

	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	os.Symlink(victim, filepath.Join(dir, ".link"))
	if _, err := s.OpenFile(".link", os.O_RDWR|os.O_CREATE|os.O_TRUNC); !errors.Is(err, ErrUnsafe) {
		t.Errorf("symlink: %v, want ErrUnsafe", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the symlink's target was changed to %q", b)
	}
	unix.Mkfifo(filepath.Join(dir, ".fifo"), 0o600)
	done := make(chan error, 1)
	go func() { _, err := s.OpenFile(".fifo", os.O_RDONLY); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnsafe) {
			t.Errorf("fifo: %v, want ErrUnsafe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("opening a FIFO blocked")
	}
	theirs := filepath.Join(dir, ".theirs")
	os.WriteFile(theirs, []byte("theirs"), 0o600)
	os.Chown(theirs, 65534, 65534)
	if os.Geteuid() == 0 {
		if _, err := s.OpenFile(".theirs", os.O_RDWR|os.O_TRUNC); !errors.Is(err, ErrUnsafe) {
			t.Errorf("another user's file: %v, want ErrUnsafe", err)
		}
		if b, _ := os.ReadFile(theirs); string(b) != "theirs" {
			t.Errorf("another user's file truncated to %q", b)
		}
	}
	for _, bad := range []string{"log", "x.json", ".lock", "../.log", ".", "..", ".a/b", ".x.json.tmp-00"} {
		if _, err := s.OpenFile(bad, os.O_RDWR|os.O_CREATE); !errors.Is(err, ErrInvalidName) {
			t.Errorf("OpenFile(%q): %v, want ErrInvalidName", bad, err)
		}
		if err := s.RenameFile(".log.1", bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("RenameFile to %q: %v, want ErrInvalidName", bad, err)
		}
	}
	if names, _ := s.List(); len(names) != 0 {
		t.Errorf("own files listed as objects: %v", names)
	}
}
