package measurelog

import (
	"io"
	"os"
	"sync"
)

// Snapshot is one open of a log: its bytes as they were at the open.
type Snapshot interface {
	// ReadAt reads as io.ReaderAt does, within the snapshot.
	ReadAt(p []byte, off int64) (int, error)
	// Size is the snapshot's length, fixed for its life.
	Size() int64
	// Close releases the snapshot.
	Close() error
}

// sharedFile is a log file that snapshots read while the journal may
// already have moved on to the next one: it is closed when the journal
// and every snapshot have let go of it.
type sharedFile struct {
	f    *os.File
	mu   sync.Mutex
	refs int
}

func newShared(f *os.File) *sharedFile { return &sharedFile{f: f, refs: 1} }

func (s *sharedFile) hold() *sharedFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs++
	return s
}

func (s *sharedFile) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs--; s.refs == 0 {
		s.f.Close()
	}
}

// fileSnapshot is the first size bytes of a file that only grows while
// the snapshot lives (the journal only appends to a log it holds).
type fileSnapshot struct {
	sh   *sharedFile
	size int64
	once sync.Once
}

func (s *fileSnapshot) Size() int64 { return s.size }

func (s *fileSnapshot) ReadAt(p []byte, off int64) (int, error) {
	if s.sh == nil || off >= s.size {
		return 0, io.EOF
	}
	if rest := s.size - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.sh.f.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}

func (s *fileSnapshot) Close() error {
	s.once.Do(func() {
		if s.sh != nil {
			s.sh.release()
		}
	})
	return nil
}

// memSnapshot is a log read into memory; b is never written again.
type memSnapshot struct{ b []byte }

func (s memSnapshot) Size() int64 { return int64(len(s.b)) }

func (s memSnapshot) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p, s.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (memSnapshot) Close() error { return nil }

// readAll reads a whole snapshot.
func readAll(s Snapshot) ([]byte, error) {
	b := make([]byte, s.Size())
	n, err := s.ReadAt(b, 0)
	if err == io.EOF && n == len(b) {
		err = nil
	}
	return b[:n], err
}
