package sealstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestOpenCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "state")
	s := openStore(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want a 0700 directory", fi.Mode())
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	names, err := s.List()
	if err != nil || len(names) != 0 {
		t.Errorf("List of a new dir = %v, %v; want none", names, err)
	}
}

func TestOpenNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "state")} {
		s, err := Open(dir)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded", dir)
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("Open(%s) error %q does not name the dir", dir, err)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	first := openStore(t, dir)
	// A relative path to the same dir is the same lock.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, rel} {
		s, err := Open(d)
		if err == nil {
			s.Close()
			t.Fatalf("second Open(%s) succeeded", d)
		}
		wantIs(t, err, ErrLocked)
		if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid") {
			t.Errorf("error %q should name %s and the holder's pid", err, dir)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	openStore(t, dir)
}

func TestStoreRoundTrip(t *testing.T) {
	s := openStore(t, t.TempDir())
	recs := []*Record{sealedRecord("zeta", 100, 7), bareRecord("alpha"), sealedRecord("m.i-d_1", 1<<20, 8)}
	for _, r := range recs {
		mustSave(t, s, r)
	}
	names, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alpha", "m.i-d_1", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
	for _, r := range recs {
		got, err := s.Load(r.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("Load(%s) = %+v, want %+v", r.Name, got, r)
		}
		fi, err := os.Stat(objPath(s, r.Name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", r.Name, fi.Mode())
		}
		if !s.Exists(r.Name) {
			t.Errorf("Exists(%s) = false", r.Name)
		}
	}

	// Replace: data written to a bare object, then a chmod.
	upd := sealedRecord("alpha", 5, 9)
	mustSave(t, s, upd)
	upd.Mode = 0o700
	mustSave(t, s, upd)
	if got, err := s.Load("alpha"); err != nil || !reflect.DeepEqual(got, upd) {
		t.Errorf("after update Load = %+v, %v; want %+v", got, err, upd)
	}

	if err := s.Remove("zeta"); err != nil {
		t.Fatal(err)
	}
	if s.Exists("zeta") {
		t.Error("Exists after Remove")
	}
	if _, err := s.Load("zeta"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load after Remove: %v, want ErrNotExist", err)
	}
	if err := s.Remove("zeta"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Remove: %v, want ErrNotExist", err)
	}
	if names, _ := s.List(); !reflect.DeepEqual(names, []string{"alpha", "m.i-d_1"}) {
		t.Errorf("List after Remove = %v", names)
	}
	if tmps := tempFiles(t, s.Dir()); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}

func TestSaveFillsTimes(t *testing.T) {
	s := openStore(t, t.TempDir())
	r := bareRecord("t")
	r.Created, r.Modified = time.Time{}, time.Time{}
	before := time.Now()
	mustSave(t, s, r)
	after := time.Now()
	got, err := s.Load("t")
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []time.Time{got.Created, got.Modified} {
		if ts.Before(before) || ts.After(after) || ts.Location() != time.UTC {
			t.Errorf("time %v not a UTC time between %v and %v", ts, before, after)
		}
	}
	if !got.Created.Equal(r.Created) {
		t.Errorf("Save did not report the time it stored: %v vs %v", r.Created, got.Created)
	}
}

func TestInvalidNamesRefused(t *testing.T) {
	s := openStore(t, t.TempDir())
	for _, n := range []string{"../x", ".lock", "", "a/b"} {
		if _, err := s.Load(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Load(%q): %v", n, err)
		}
		if err := s.Remove(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Remove(%q): %v", n, err)
		}
		if s.Exists(n) {
			t.Errorf("Exists(%q)", n)
		}
		r := bareRecord(n)
		if err := s.Save(r); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Save(%q): %v", n, err)
		}
	}
	if entries, _ := os.ReadDir(s.Dir()); len(entries) != 1 {
		t.Errorf("dir holds %v, want only the lock file", entries)
	}
}

func TestClosedStore(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustSave(t, s, bareRecord("a"))
	s.Close()
	if err := s.Save(bareRecord("b")); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close: %v", err)
	}
	if _, err := s.Load("a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
	if _, err := s.List(); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close: %v", err)
	}
	if err := s.Remove("a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Remove after Close: %v", err)
	}
}

// TestCorruptObjectsIsolated damages some files in every way the store
// must survive and checks that each fails alone, with ErrCorrupt and its
// path, while the good objects still load.
func TestCorruptObjectsIsolated(t *testing.T) {
	s := openStore(t, t.TempDir())
	good := []*Record{sealedRecord("good1", 64, 10), bareRecord("good2")}
	for _, r := range good {
		mustSave(t, s, r)
	}
	valid := readFile(t, objPath(s, "good1"))
	write := func(name string, data []byte) {
		if err := os.WriteFile(objPath(s, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("truncated", valid[:len(valid)*2/3])
	write("empty", nil)
	write("garbage", []byte("\x89PNG\r\n\x1a\n"))
	write("v4", []byte(strings.Replace(string(valid), `"version": 3`, `"version": 4`, 1)))
	write("renamed", valid) // holds "good1"
	if err := os.WriteFile(objPath(s, "huge"), make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(objPath(s, "good1"), objPath(s, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(objPath(s, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"truncated", "empty", "garbage", "v4", "renamed", "huge", "link", "fifo"} {
		_, err := s.Load(name)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Load(%s): %v, want ErrCorrupt", name, err)
			continue
		}
		if !strings.Contains(err.Error(), objPath(s, name)) {
			t.Errorf("Load(%s) error %q does not name the file", name, err)
		}
	}
	for _, r := range good {
		if got, err := s.Load(r.Name); err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("Load(%s) beside corrupt files = %v, %v", r.Name, got, err)
		}
	}
	names, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	// Regular files are listed (and then fail to load); a symlink or FIFO
	// is not an object.
	want := []string{"empty", "garbage", "good1", "good2", "huge", "renamed", "truncated", "v4"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
	// A corrupt object can be overwritten by a new seal and removed.
	mustSave(t, s, bareRecord("garbage"))
	if err := s.Remove("truncated"); err != nil {
		t.Error(err)
	}
}

func TestListIgnoresForeignFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustSave(t, s, bareRecord("obj"))
	for _, f := range []string{"README", "obj.json~", "obj.JSON", "bad name.json", ".hidden.json", ".obj.json.tmp-123", ".json"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if names, err := s.List(); err != nil || !reflect.DeepEqual(names, []string{"obj"}) {
		t.Errorf("List = %v, %v; want [obj]", names, err)
	}
	if s.Exists("sub") {
		t.Error("a directory counts as an object")
	}
}

func TestOpenRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustSave(t, s, bareRecord("obj"))
	s.Close()
	stale := filepath.Join(dir, ".obj.json.tmp-4242")
	foreign := filepath.Join(dir, ".keep")
	for _, p := range []string{stale, foreign} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	openStore(t, dir)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file still there: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("Open removed a foreign file: %v", err)
	}
}

// TestConcurrentSaveLoad has writers replace one object while readers
// load it: every load sees one complete version.
func TestConcurrentSaveLoad(t *testing.T) {
	s := openStore(t, t.TempDir())
	versions := []*Record{sealedRecord("o", 64<<10, 30), sealedRecord("o", 10, 31), bareRecord("o")}
	mustSave(t, s, versions[0])
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 3; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := s.Save(versions[(w+i)%len(versions)]); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				got, err := s.Load("o")
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got, versions[0]) && !reflect.DeepEqual(got, versions[1]) && !reflect.DeepEqual(got, versions[2]) {
					errs <- errors.New("loaded a version that was never saved")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tmps := tempFiles(t, s.Dir()); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}
