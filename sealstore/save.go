package sealstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
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
// A zero r.Created or r.Modified is set to the current time (in r too).
// A record that could not be loaded back gives an error wrapping
// ErrInvalidRecord, and nothing is written.
func (s *Store) Save(r *Record) error {
	release, err := s.acquire()
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
	data, err := encode(r)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := s.replace(r.Name, data); err != nil {
		return fmt.Errorf("save object %s: %w", r.Name, err)
	}
	return nil
}

func (s *Store) replace(name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(s.dir, "."+name+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmpPath := tmp.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmpPath)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write temp file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync temp file: %w", err)
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if s.beforeRename != nil {
		if err := s.beforeRename(tmpPath); err != nil {
			return err
		}
	}
	if err := os.Rename(tmpPath, s.path(name)); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	// From here the temp file is gone; only durability is in question.
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("after rename: %w", err)
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
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if isTemp(e.Name()) && e.Type().IsRegular() {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
}
