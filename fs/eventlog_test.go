package fs

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"

	"tpmfs/measurelog"
)

// fakeLogs serves logs from memory; a log grows by Append.
type fakeLogs struct {
	mu      sync.Mutex
	logs    map[string][]byte
	kernel  []string
	verify  string
	opens   int
	roomErr error
}

func (l *fakeLogs) Kernel() []string { return l.kernel }

func (l *fakeLogs) Open(ctx context.Context, name string) (measurelog.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.logs[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	l.opens++
	return bytesSnapshot(b[:len(b):len(b)]), nil
}

func (l *fakeLogs) Size(name string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.logs[name])), nil
}

func (l *fakeLogs) Verify(ctx context.Context) ([]byte, error) {
	return []byte(l.verify), nil
}

func (l *fakeLogs) CheckRoom() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.roomErr
}

func (l *fakeLogs) setRoomErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roomErr = err
}

func (l *fakeLogs) append(name, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logs[name] = append(l.logs[name], s...)
}

func newFakeLogs() *fakeLogs {
	return &fakeLogs{
		logs:   map[string][]byte{"tpmfs": []byte("\x1e{\"recnum\":0}\n"), "ima-ascii": []byte("10 abc ima-ng sha256:00 /init\n")},
		kernel: []string{"ima-ascii"},
		verify: "sha256:16: ok\n",
	}
}

func TestEventlogTree(t *testing.T) {
	logs := newFakeLogs()
	f := mountFakeWith(t, func(b *Backend) { b.Logs = logs })
	ents, err := os.ReadDir(f.path("eventlog"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		st, _ := os.Stat(f.path("eventlog/" + e.Name()))
		if st.Mode() != 0o444 {
			t.Errorf("eventlog/%s: mode %v, want 0444", e.Name(), st.Mode())
		}
	}
	if !slices.Equal(names, []string{"ima-ascii", "tpmfs", "verify"}) {
		t.Fatalf("eventlog/ lists %v", names)
	}
	if _, err := os.Stat(f.path("eventlog/firmware")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a firmware log the kernel lacks: %v", err)
	}
	if b, _ := os.ReadFile(f.path("eventlog/verify")); string(b) != logs.verify {
		t.Errorf("verify reads %q", b)
	}
	if b, _ := os.ReadFile(f.path("eventlog/ima-ascii")); string(b) != string(logs.logs["ima-ascii"]) {
		t.Errorf("ima-ascii reads %q", b)
	}
}

// An open is a snapshot: fstat and reads keep to it while the log grows;
// stat and a new open see the log now.
func TestEventlogSnapshotPerOpen(t *testing.T) {
	logs := newFakeLogs()
	f := mountFakeWith(t, func(b *Backend) { b.Logs = logs })
	path := f.path("eventlog/tpmfs")
	first := string(logs.logs["tpmfs"])
	fd, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	logs.append("tpmfs", "\x1e{\"recnum\":1}\n")
	logs.mu.Lock()
	now := string(logs.logs["tpmfs"])
	logs.mu.Unlock()
	if st, _ := fd.Stat(); st.Size() != int64(len(first)) {
		t.Errorf("fstat of an open log: %d, want its snapshot's %d", st.Size(), len(first))
	}
	if off, _ := fd.Seek(0, 2); off != int64(len(first)) {
		t.Errorf("seek to the end: %d, want %d", off, len(first))
	}
	buf := make([]byte, 4096)
	if n, _ := fd.ReadAt(buf, 0); string(buf[:n]) != first {
		t.Errorf("read of an open log: %q, want %q", buf[:n], first)
	}
	// The kernel does not say which open a stat is for, and go-fuse
	// then takes the first open file's: stat the log once it is closed
	// (FUSE delivers the release after close(2) has returned).
	fd.Close()
	waitFor(t, "stat of the closed log giving the log's size", func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() == int64(len(now))
	})
	if b, _ := os.ReadFile(path); string(b) != now {
		t.Errorf("a new open reads %q", b)
	}
}

// Logs are read-only for everyone, root included, and cannot be
// removed, renamed or chmod'ed.
func TestEventlogReadOnly(t *testing.T) {
	logs := newFakeLogs()
	f := mountFakeWith(t, func(b *Backend) { b.Logs = logs })
	before := string(logs.logs["tpmfs"])
	for _, name := range []string{"tpmfs", "ima-ascii", "verify"} {
		path := f.path("eventlog/" + name)
		_, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		wantErrno(t, "open "+name+" for writing", err, syscall.EACCES)
		wantErrno(t, "rm "+name, os.Remove(path), syscall.EPERM)
		wantErrno(t, "mv "+name, os.Rename(path, f.path("eventlog/x")), syscall.EPERM)
		wantErrno(t, "chmod "+name, os.Chmod(path, 0o666), syscall.EPERM)
	}
	wantErrno(t, "rmdir eventlog", os.Remove(f.path("eventlog")), syscall.EPERM)
	if string(logs.logs["tpmfs"]) != before {
		t.Error("the log changed")
	}
}

// An extend the log has no room for is refused at open, where a shell
// sees it, and nothing is extended.
func TestEventlogNoRoomRefusedAtOpen(t *testing.T) {
	logs := newFakeLogs()
	f := mountFakeWith(t, func(b *Backend) { b.Logs = logs })
	logs.setRoomErr(syscall.ENOSPC)
	_, err := os.OpenFile(f.path("pcrs/16"), os.O_WRONLY|os.O_TRUNC, 0)
	wantErrno(t, "open pcrs/16 for an event", err, syscall.ENOSPC)
	_, err = os.OpenFile(f.path("pcrs/sha256/16"), os.O_WRONLY|os.O_TRUNC, 0)
	wantErrno(t, "open pcrs/sha256/16 for a digest", err, syscall.ENOSPC)
	logs.setRoomErr(nil)
	if err := os.WriteFile(f.path("pcrs/16"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
}
