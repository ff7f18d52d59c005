package sealstore

import (
	"sync"

	"golang.org/x/sys/unix"
)

// recordCache keeps the last record read or written for each object,
// with the identity of the file it came from, so that a stat or an open
// does not decode a file of up to 4 MiB again. A file changed in any way
// (every save is a new file, renamed into place) is read afresh.
type recordCache struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	key fileKey
	rec Record
}

// fileKey tells one version of a file from another.
type fileKey struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

func keyOf(st *unix.Stat_t) fileKey {
	return fileKey{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// get returns a copy of the cached record if the file is the same. The
// copy is shallow: callers replace Sealed and AK, never change them in
// place.
func (c *recordCache) get(name string, st *unix.Stat_t) *Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok || e.key != keyOf(st) {
		return nil
	}
	r := e.rec
	return &r
}

func (c *recordCache) put(name string, st *unix.Stat_t, r *Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cached{}
	}
	c.m[name] = cached{key: keyOf(st), rec: *r}
}

func (c *recordCache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
}
