package sealstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// suffix ends every object file: NAME.json.
const suffix = ".json"

// Store is an open, locked state directory. Its methods are safe for
// concurrent use; callers serialise operations on one object.
type Store struct {
	dir string

	mu   sync.RWMutex // Close takes it exclusively
	lock *os.File     // nil once closed

	// beforeRename, when set (tests only), runs after the temp file is
	// written and synced, just before it replaces the object file.
	beforeRename func(tmp string) error
}

// Open opens the state directory dir, creating it (and its parents) with
// mode 0700 if missing, and locks it for this Store until Close. A
// directory already locked by another Store or process gives an error
// wrapping ErrLocked that names it. Temp files left by an interrupted
// Save are removed.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir %s: %w", abs, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("state dir %s: not a directory", abs)
	}
	lock, err := lockDir(abs)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: abs, lock: lock}
	s.removeStaleTemps()
	return s, nil
}

// Dir is the absolute path of the state directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the lock. Later calls on s fail with ErrClosed; closing
// twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := unlockDir(s.lock)
	s.lock = nil
	if err != nil {
		return fmt.Errorf("unlock state dir %s: %w", s.dir, err)
	}
	return nil
}

// acquire holds s open for one operation; call the returned release.
func (s *Store) acquire() (release func(), err error) {
	s.mu.RLock()
	if s.lock == nil {
		s.mu.RUnlock()
		return nil, fmt.Errorf("state dir %s: %w", s.dir, ErrClosed)
	}
	return s.mu.RUnlock, nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+suffix) }

// List returns the names of the stored objects, sorted. Files that are
// not NAME.json for a valid NAME, or not regular files, are ignored; a
// listed object may still fail to Load if its file is corrupt.
func (s *Store) List() ([]string, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list state dir %s: %w", s.dir, err)
	}
	names := []string{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || ValidName(name) != nil || !e.Type().IsRegular() {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// Exists reports whether an object file for name exists (whether or not
// it loads).
func (s *Store) Exists(name string) bool {
	if ValidName(name) != nil {
		return false
	}
	release, err := s.acquire()
	if err != nil {
		return false
	}
	defer release()
	fi, err := os.Lstat(s.path(name))
	return err == nil && fi.Mode().IsRegular()
}

// Load reads the object name. A missing object gives an error wrapping
// fs.ErrNotExist; a file that cannot be trusted (see ErrCorrupt) one
// wrapping ErrCorrupt; both name the file.
func (s *Store) Load(name string) (*Record, error) {
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	path := s.path(name)
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	r, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if r.Name != name {
		return nil, fmt.Errorf("load %s: %w: holds object %q", path, ErrCorrupt, r.Name)
	}
	return r, nil
}

// readBounded reads a regular file of at most MaxFileSize bytes. It does
// not follow symlinks and does not block on a FIFO.
func readBounded(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%w: is a symlink", ErrCorrupt)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file (%v)", ErrCorrupt, fi.Mode().Type())
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrCorrupt, fi.Size(), MaxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrCorrupt, MaxFileSize)
	}
	return data, nil
}

// Remove deletes the object name and syncs the directory, so the removal
// survives a crash. A missing object gives an error wrapping
// fs.ErrNotExist.
func (s *Store) Remove(name string) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	if err := os.Remove(s.path(name)); err != nil {
		return fmt.Errorf("remove object %s: %w", name, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("remove object %s: %w", name, err)
	}
	return nil
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
