package sealstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// suffix ends every object file: NAME.json.
const suffix = ".json"

// Store is an open, locked state directory. Every file in it is reached
// through the directory's descriptor without following symlinks, so a
// path planted inside it never leads elsewhere. Its methods are safe for
// concurrent use; callers serialise operations on one object.
type Store struct {
	dir string
	uid int // the daemon's: every file it trusts is owned by it

	mu    sync.RWMutex // Close takes it exclusively
	dirFD int          // -1 once closed
	lock  *os.File

	// beforeRename, when set (tests only), runs after the temp file is
	// written and synced, just before it replaces the object file.
	beforeRename func(tmp string) error

	cache recordCache
}

// Open opens the state directory dir, creating it (and its parents) with
// mode 0700 if missing, checks that nobody but root and this user can
// change it (see checkTrusted; ErrUnsafe otherwise), and locks it for this
// Store until Close. A directory already locked by another Store or
// process gives an error wrapping ErrLocked that names it. Temp files left
// by an interrupted Save are removed.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir %s: %w", abs, err)
	}
	uid := os.Geteuid()
	fd, err := openTrusted(abs, uid)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(fd, abs, uid)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	s := &Store{dir: abs, uid: uid, dirFD: fd, lock: lock}
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
	if s.dirFD < 0 {
		return nil
	}
	unix.Close(s.dirFD)
	s.dirFD = -1
	// Closing the only descriptor of the open file releases the flock.
	if err := s.lock.Close(); err != nil {
		return fmt.Errorf("unlock state dir %s: %w", s.dir, err)
	}
	return nil
}

// acquire holds s open for one operation and returns the directory's
// descriptor; call the returned release.
func (s *Store) acquire() (fd int, release func(), err error) {
	s.mu.RLock()
	if s.dirFD < 0 {
		s.mu.RUnlock()
		return -1, nil, fmt.Errorf("state dir %s: %w", s.dir, ErrClosed)
	}
	return s.dirFD, s.mu.RUnlock, nil
}

func fileName(name string) string { return name + suffix }

func (s *Store) path(name string) string { return filepath.Join(s.dir, fileName(name)) }

// List returns the names of the stored objects, sorted. See Scan.
func (s *Store) List() ([]string, error) {
	names, _, err := s.Scan()
	return names, err
}

// Scan returns the names of the stored objects, sorted, and the entries
// that look like objects but are not trusted, with the reason for each:
// anything but a regular file owned by the daemon's user. Files that are
// not NAME.json for a valid NAME are ignored. A listed object may still
// fail to Load if its file is corrupt.
func (s *Store) Scan() (names []string, skipped map[string]error, err error) {
	fd, release, err := s.acquire()
	if err != nil {
		return nil, nil, err
	}
	defer release()
	entries, err := readDirNames(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("list state dir %s: %w", s.dir, err)
	}
	names = []string{}
	skipped = map[string]error{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e, suffix)
		if !ok || validStoreName(name) != nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, e, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone meanwhile
		}
		if err := s.trustedFile(&st); err != nil {
			skipped[name] = fmt.Errorf("%s: %w", s.path(name), err)
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, skipped, nil
}

// readDirNames lists the directory open at fd.
func readDirNames(fd int) ([]string, error) {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(dfd), ".")
	defer d.Close()
	return d.Readdirnames(-1)
}

// trustedFile accepts a regular file owned by the daemon's user.
func (s *Store) trustedFile(st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: not a regular file", ErrCorrupt)
	}
	if int(st.Uid) != s.uid {
		return fmt.Errorf("%w: owned by uid %d, not by tpmfs's uid %d", ErrCorrupt, st.Uid, s.uid)
	}
	return nil
}

// Exists reports whether a trusted object file for name exists (whether
// or not it loads).
func (s *Store) Exists(name string) bool {
	if validStoreName(name) != nil {
		return false
	}
	fd, release, err := s.acquire()
	if err != nil {
		return false
	}
	defer release()
	var st unix.Stat_t
	return unix.Fstatat(fd, fileName(name), &st, unix.AT_SYMLINK_NOFOLLOW) == nil && s.trustedFile(&st) == nil
}

// Load reads the object name. A missing object gives an error wrapping
// fs.ErrNotExist; a file that cannot be trusted (see ErrCorrupt) one
// wrapping ErrCorrupt; both name the file.
func (s *Store) Load(name string) (*Record, error) {
	if err := validStoreName(name); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	fd, release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	path := s.path(name)
	f, st, err := s.openTrusted(fd, fileName(name))
	if err != nil {
		s.cache.drop(name)
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer f.Close()
	if r := s.cache.get(name, st); r != nil {
		return r, nil
	}
	data, err := readBounded(f, st)
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
	s.cache.put(name, st, r)
	return r, nil
}

// openTrusted opens a trusted regular file in the directory open at
// dirFD, without following symlinks or blocking on a FIFO.
func (s *Store) openTrusted(dirFD int, file string) (*os.File, *unix.Stat_t, error) {
	fd, err := unix.Openat(dirFD, file, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, nil, fmt.Errorf("%w: is a symlink", ErrCorrupt)
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: file, Err: err}
	}
	f := os.NewFile(uintptr(fd), file)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := s.trustedFile(&st); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, &st, nil
}

// readBounded reads f, of at most MaxFileSize bytes.
func readBounded(f *os.File, st *unix.Stat_t) ([]byte, error) {
	if st.Size > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrCorrupt, st.Size, MaxFileSize)
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
// fs.ErrNotExist. A corrupt object file is removed like any other.
func (s *Store) Remove(name string) error {
	if err := validStoreName(name); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	fd, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	s.cache.drop(name)
	if err := unix.Unlinkat(fd, fileName(name), 0); err != nil {
		return fmt.Errorf("remove object %s: %w", name, &fs.PathError{Op: "unlink", Path: s.path(name), Err: err})
	}
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("remove object %s: sync dir %s: %w", name, s.dir, err)
	}
	return nil
}
