package sealstore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tempInfix marks Save's temp files: ".NAME.json.tmp-RANDOM". The leading
// dot keeps them out of List and apart from every object file.
const tempInfix = suffix + ".tmp-"

// Save writes r as the object r.Name, replacing any previous version
// atomically: the new content goes to a temp file in the same directory
// (mode 0600), which is synced and renamed over the old file, and then
// the directory is synced. A crash at any point leaves the old or the new
// file, never a mix. On an error before the rename the temp file is
// removed and the old file is untouched; the error says which step
// failed. An error syncing the directory after the rename means the new
// file is in place but may not survive a power cut.
//
// A zero r.Created or r.Modified is set to the current time, and an empty
// r.ID to a new one (in r too). A record that could not be loaded back
// gives an error wrapping ErrInvalidRecord, and nothing is written.
func (s *Store) Save(r *Record) error {
	fd, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	now := time.Now().UTC()
	if r.Created.IsZero() {
		r.Created = now
	}
	if r.Modified.IsZero() {
		r.Modified = now
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	data, err := encode(r)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	s.cache.drop(r.Name)
	if err := s.replace(fd, r.Name, data); err != nil {
		return fmt.Errorf("save object %s: %w", r.Name, err)
	}
	var st unix.Stat_t
	if unix.Fstatat(fd, fileName(r.Name), &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		s.cache.put(r.Name, &st, r)
	}
	return nil
}

func (s *Store) replace(dirFD int, name string, data []byte) (err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := "." + fileName(name) + ".tmp-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dirFD, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			unix.Unlinkat(dirFD, tmp, 0)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temp file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync temp file: %w", err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if s.beforeRename != nil {
		if err := s.beforeRename(filepath.Join(s.dir, tmp)); err != nil {
			return err
		}
	}
	if err := unix.Renameat(dirFD, tmp, dirFD, fileName(name)); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	// From here the temp file is gone; only durability is in question.
	if err := unix.Fsync(dirFD); err != nil {
		return fmt.Errorf("after rename: sync dir %s: %w", s.dir, err)
	}
	return nil
}

// isTemp reports whether a directory entry is a temp file of Save.
func isTemp(entry string) bool {
	return strings.HasPrefix(entry, ".") && strings.Contains(entry, tempInfix)
}

// removeStaleTemps deletes temp files that an interrupted Save left
// behind. It runs under the lock, so no other Save is writing them. A
// failure is harmless (List ignores temp files), so it is not reported.
func (s *Store) removeStaleTemps() {
	entries, err := readDirNames(s.dirFD)
	if err != nil {
		return
	}
	for _, e := range entries {
		var st unix.Stat_t
		if isTemp(e) && unix.Fstatat(s.dirFD, e, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && s.trustedFile(&st) == nil {
			unix.Unlinkat(s.dirFD, e, 0)
		}
	}
}
