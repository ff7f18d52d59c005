package fs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/internal/faketpm"
	"tpmfs/internal/swtpmtest"
	"tpmfs/sealstore"
	"tpmfs/tpmcore"
	"tpmfs/vault"
)

// These tests mount the tree in-process, as go-fuse's own tests do, over
// a fake TPM (internal/faketpm), a real vault on a temp state directory
// and a fake raw client, and use it with ordinary system calls.

// fixture is a mounted tree and what it is served from.
type fixture struct {
	dir   string
	tpm   *faketpm.TPM
	vault *vault.Vault
	store *sealstore.Store
	raw   *fakeRaw
	log   *logBuffer
}

func (f *fixture) path(p string) string { return f.dir + "/" + p }

type mountOpt func(*Options, *vault.Options)

func readOnly(o *Options, v *vault.Options) { o.ReadOnly, v.ReadOnly = true, true }

func withQuota(objects int, bytes int64) mountOpt {
	return func(_ *Options, v *vault.Options) { v.Quota = &vault.Quota{Objects: objects, Bytes: bytes} }
}

func mountFake(t *testing.T, mopts ...mountOpt) *fixture {
	t.Helper()
	return mountFakeOn(t, faketpm.New(), nil, mopts...)
}

// mountFakeTPM is mountFake over a fake TPM of the test's choosing
// (faketpm.New12 for a TPM 1.2).
func mountFakeTPM(t *testing.T, tpm *faketpm.TPM, mopts ...mountOpt) *fixture {
	t.Helper()
	return mountFakeOn(t, tpm, nil, mopts...)
}

// mountFakeWith is mountFake with edit applied to the backend first.
func mountFakeWith(t *testing.T, edit func(*Backend), mopts ...mountOpt) *fixture {
	t.Helper()
	return mountFakeOn(t, faketpm.New(), edit, mopts...)
}

func mountFakeOn(t *testing.T, tpm *faketpm.TPM, edit func(*Backend), mopts ...mountOpt) *fixture {
	t.Helper()
	if os.Geteuid() != 0 {
		swtpmtest.SkipOrFail(t, "in-process mounts need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		swtpmtest.SkipOrFail(t, "no /dev/fuse: %v", err)
	}
	f := &fixture{dir: t.TempDir(), tpm: tpm, raw: &fakeRaw{}, log: &logBuffer{}}
	logger := logrus.New()
	logger.SetOutput(f.log)
	logger.SetLevel(logrus.DebugLevel)
	log := logrus.NewEntry(logger)
	store, err := sealstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.store = store
	opts := Options{PCRMode: 0o644, RandomMode: 0o444, SealMode: 0o1777, DeviceMode: 0o600,
		EKMode: 0o444, AKMode: 0o1777, NVMode: 0o644, LogMode: 0o444, Log: log}
	vopts := vault.Options{Log: log}
	for _, o := range mopts {
		o(&opts, &vopts)
	}
	if f.vault, err = vault.New(store, f.tpm, vopts); err != nil {
		t.Fatal(err)
	}
	f.tpm.AddEKCert(0x01c00002, []byte("fake RSA EK certificate"))
	f.tpm.AddEKCert(0x01c00016, []byte("fake P-384 EK certificate"))
	b := Backend{
		TPM:     f.tpm,
		OpenRaw: func(uint32) (RawClient, error) { return f.raw, nil },
		Objects: f.vault,
		EK:      f.tpm,
		NV:      f.tpm,
		AKs:     f.vault.AKs(f.tpm),
	}
	if edit != nil {
		edit(&b)
	}
	root, err := New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	server, err := gofs.Mount(f.dir, root, &gofs.Options{MountOptions: fuse.MountOptions{
		DirectMount: true, FsName: "faketpm", Name: "tpmfs",
		Options: []string{"default_permissions"},
	}, NullPermissions: true})
	if err != nil {
		swtpmtest.SkipOrFail(t, "mount: %v", err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			syscall.Unmount(f.dir, syscall.MNT_DETACH)
		}
	})
	return f
}

// logBuffer collects the daemon's log for checks.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeRaw answers every command with a TPM_RC_SUCCESS header, the way a
// raw client hands back whole responses.
type fakeRaw struct {
	mu     sync.Mutex
	rsp    []byte
	cmds   int
	closed int
}

func (r *fakeRaw) Write(ctx context.Context, cmd []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rsp) > 0 {
		return 0, tpmcore.ErrResponseUnread
	}
	if len(cmd) > tpmcore.MaxCommand {
		return 0, tpmcore.ErrCommandTooLarge
	}
	r.cmds++
	r.rsp = binary.BigEndian.AppendUint16(nil, 0x8001)
	r.rsp = binary.BigEndian.AppendUint32(r.rsp, 10)
	r.rsp = binary.BigEndian.AppendUint32(r.rsp, 0)
	return len(cmd), nil
}

func (r *fakeRaw) Read(dest []byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := copy(dest, r.rsp)
	r.rsp = r.rsp[n:]
	return n
}

func (r *fakeRaw) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed++
	return nil
}

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
