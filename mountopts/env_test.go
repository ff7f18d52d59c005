package mountopts

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// fakeEnv is a deterministic Env: a non-root user with two known users
// and groups.
type fakeEnv struct {
	uid, gid int
	vars     map[string]string
}

func newFakeEnv() *fakeEnv {
	return &fakeEnv{uid: 1000, gid: 1000, vars: map[string]string{"HOME": "/home/alice"}}
}

func (e *fakeEnv) Geteuid() int             { return e.uid }
func (e *fakeEnv) Getegid() int             { return e.gid }
func (e *fakeEnv) Getenv(key string) string { return e.vars[key] }

func (e *fakeEnv) LookupUser(name string) (uint32, error) {
	switch name {
	case "alice":
		return 1000, nil
	case "tss":
		return 107, nil
	case "broken":
		return 1<<32 - 1, nil
	}
	return 0, ErrUnknownUser
}

func (e *fakeEnv) LookupGroup(name string) (uint32, error) {
	switch name {
	case "alice":
		return 1000, nil
	case "tss":
		return 113, nil
	}
	return 0, ErrUnknownGroup
}

// readIDs parses an /etc/passwd or /etc/group style file independently
// of os/user: name → third field.
func readIDs(t *testing.T, path string) map[string]uint32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		swtpmtest.SkipOrFail(t, "no %s: %v", path, err)
	}
	defer f.Close()
	ids := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(fields[2], 10, 32); err == nil {
			ids[fields[0]] = uint32(id)
		}
	}
	return ids
}

func TestOSEnvLookup(t *testing.T) {
	users := readIDs(t, "/etc/passwd")
	groups := readIDs(t, "/etc/group")
	if len(users) == 0 || len(groups) == 0 {
		t.Fatal("no entries in /etc/passwd or /etc/group")
	}
	for name, want := range users {
		got, err := OSEnv{}.LookupUser(name)
		if err != nil || got != want {
			t.Errorf("LookupUser(%q) = %d, %v; /etc/passwd says %d", name, got, err, want)
		}
	}
	for name, want := range groups {
		got, err := OSEnv{}.LookupGroup(name)
		if err != nil || got != want {
			t.Errorf("LookupGroup(%q) = %d, %v; /etc/group says %d", name, got, err, want)
		}
	}
	const missing = "tpmfs-no-such-name"
	if _, ok := users[missing]; !ok {
		if _, err := (OSEnv{}).LookupUser(missing); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("LookupUser(%q) error = %v, want ErrUnknownUser", missing, err)
		}
	}
	if _, ok := groups[missing]; !ok {
		if _, err := (OSEnv{}).LookupGroup(missing); !errors.Is(err, ErrUnknownGroup) {
			t.Errorf("LookupGroup(%q) error = %v, want ErrUnknownGroup", missing, err)
		}
	}
}

func TestParseUsesProcessEnv(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	cfg, err := Parse("auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UID != uint32(os.Geteuid()) || cfg.GID != uint32(os.Getegid()) {
		t.Errorf("owner = %d:%d, want the process's %d:%d", cfg.UID, cfg.GID, os.Geteuid(), os.Getegid())
	}
	want := "/xdg/state/tpmfs"
	if os.Geteuid() == 0 {
		want = "/var/lib/tpmfs"
	}
	if cfg.StateDir != want {
		t.Errorf("StateDir = %q, want %q", cfg.StateDir, want)
	}
}
