package fs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/faketpm"
)

// define does what truncate -s SIZE does: open with O_CREAT, ftruncate.
func define(path string, size int64) error {
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer fd.Close()
	return fd.Truncate(size)
}

func listNV(t *testing.T, f *fixture) string {
	t.Helper()
	entries, err := os.ReadDir(f.path("nv"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestNVOrdinary(t *testing.T) {
	f := mountFake(t)
	if got := listNV(t, f); got != "" {
		t.Errorf("nv/ lists %q", got)
	}
	p := f.path("nv/0x01500020")
	if err := define(p, 200); err != nil {
		t.Fatal(err)
	}
	if got := listNV(t, f); got != "0x01500020" {
		t.Errorf("nv/ lists %q", got)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != 200 || fi.Mode().Perm() != 0o644 {
		t.Errorf("defined index: %v %v", fi, err)
	}
	_, err = os.ReadFile(p)
	wantErrno(t, "read before any write", err, syscall.ENODATA)
	data := bytes.Repeat([]byte("tpmfs"), 30)
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	if _, err := w.WriteAt(data, 20); err != nil {
		t.Fatal(err)
	}
	_, err = w.WriteAt([]byte("xy"), 199)
	wantErrno(t, "write past the end", err, syscall.EFBIG)
	w.Close()
	got, err := os.ReadFile(p)
	if err != nil || len(got) != 200 || !bytes.Equal(got[20:170], data) {
		t.Errorf("read back %q, %v", got, err)
	}
	// A shell's > writes in place: the index keeps its size.
	if err := os.WriteFile(p, []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.HasPrefix(got, []byte("new")) || len(got) != 200 {
		t.Errorf("after a rewrite: %q", got[:10])
	}
	wantErrno(t, "truncate to another size", os.Truncate(p, 100), syscall.EPERM)
	if err := os.Truncate(p, 200); err != nil {
		t.Errorf("truncate to its own size: %v", err)
	}
	wantErrno(t, "chmod", os.Chmod(p, 0o666), syscall.EPERM)
	wantErrno(t, "rename", os.Rename(p, f.path("nv/0x01500021")), syscall.EPERM)
	wantErrno(t, "define an existing index again", define(p, 8), syscall.EPERM)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if got := listNV(t, f); got != "" {
		t.Errorf("after rm: nv/ lists %q", got)
	}
	wantErrno(t, "rm again", os.Remove(p), syscall.ENOENT)
}

func TestNVCreateErrors(t *testing.T) {
	f := mountFake(t)
	for _, name := range []string{"0x1500020", "0X01500020", "0x01C00100", "0x01c00100", "0x81000001", "hello", "0x0150002g"} {
		err := define(f.path("nv/"+name), 8)
		if err == nil {
			t.Errorf("defined %s", name)
		}
	}
	wantErrno(t, "truncate -s 0 of a new name", define(f.path("nv/0x01500020"), 0), syscall.EINVAL)
	wantErrno(t, "a size the TPM does not take", define(f.path("nv/0x01500021"), 4096), syscall.EFBIG)
	// An open closed without truncate leaves nothing.
	fd, err := os.OpenFile(f.path("nv/0x01500022"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fd.Write([]byte("x"))
	wantErrno(t, "write before the index is defined", err, syscall.EPERM)
	fd.Close()
	if got := listNV(t, f); got != "" {
		t.Errorf("nv/ lists %q", got)
	}
	_, err = os.Stat(f.path("nv/0x01500022"))
	wantErrno(t, "stat of a name never defined", err, syscall.ENOENT)
	_, err = os.Stat(f.path("nv/0x1500022"))
	wantErrno(t, "a name not in canonical form", err, syscall.ENOENT)
}

func TestNVTypes(t *testing.T) {
	f := mountFake(t)
	owner := tpm2.TPMANV{OwnerRead: true, OwnerWrite: true, NoDA: true}
	counter, bits, extend := owner, owner, owner
	counter.NT, bits.NT, extend.NT = tpm2.TPMNTCounter, tpm2.TPMNTBits, tpm2.TPMNTExtend
	f.tpm.DefineNV(0x01500001, counter, 8, false, nil)
	f.tpm.DefineNV(0x01500002, bits, 8, false, nil)
	f.tpm.DefineNV(0x01500003, extend, 32, false, nil)
	for i := 0; i < 3; i++ {
		if err := os.WriteFile(f.path("nv/0x01500001"), []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := readPCR(t, f, "nv/0x01500001"); got != "3\n" {
		t.Errorf("counter %q", got)
	}
	os.WriteFile(f.path("nv/0x01500002"), []byte("0x10\n"), 0)
	os.WriteFile(f.path("nv/0x01500002"), []byte("1"), 0)
	if got := readPCR(t, f, "nv/0x01500002"); got != "0000000000000011\n" {
		t.Errorf("bits %q", got)
	}
	wantErrno(t, "bits not hex", os.WriteFile(f.path("nv/0x01500002"), []byte("zz\n"), 0), syscall.EINVAL)
	os.WriteFile(f.path("nv/0x01500003"), []byte("event"), 0)
	h := sha256.New()
	h.Write(make([]byte, 32))
	h.Write([]byte("event"))
	if got := readPCR(t, f, "nv/0x01500003"); got != hex.EncodeToString(h.Sum(nil))+"\n" {
		t.Errorf("extend index %q", got)
	}
	wantErrno(t, "extend by more than a buffer", os.WriteFile(f.path("nv/0x01500003"), make([]byte, 65), 0), syscall.EFBIG)
	// Owner-only indices: the owner bits, and nobody else's.
	if fi, _ := os.Stat(f.path("nv/0x01500001")); fi.Mode().Perm() != 0o600 || fi.Size() != 0 {
		t.Errorf("counter stat %v", fi)
	}
	if fi, _ := os.Stat(f.path("nv/0x01500003")); fi.Mode().Perm() != 0o600 || fi.Size() != 65 {
		t.Errorf("extend stat %v", fi)
	}
}

func TestNVAuthAndLocks(t *testing.T) {
	f := mountFake(t)
	// The platform's read-only index: readable by all, not writable, not
	// removable.
	ek := tpm2.TPMANV{PPWrite: true, WriteDefine: true, PPRead: true, OwnerRead: true, AuthRead: true, NoDA: true, PlatformCreate: true}
	f.tpm.DefineNV(0x01c08000, ek, 4, false, []byte("cert"))
	if fi, _ := os.Stat(f.path("nv/0x01c08000")); fi.Mode().Perm() != 0o444 {
		t.Errorf("platform index mode %v", fi.Mode())
	}
	_, err := os.OpenFile(f.path("nv/0x01c08000"), os.O_WRONLY, 0)
	wantErrno(t, "open the platform's index for writing (root)", err, syscall.EPERM)
	wantErrno(t, "rm the platform's index", os.Remove(f.path("nv/0x01c08000")), syscall.EPERM)
	if got := readPCR(t, f, "nv/0x01c08000"); got != "cert" {
		t.Errorf("platform index %q", got)
	}
	// An index whose auth value is not empty and no owner read.
	f.tpm.DefineNV(0x01500005, tpm2.TPMANV{AuthRead: true, AuthWrite: true}, 4, true, []byte("pass"))
	f.tpm.DefineNV(0x01500006, tpm2.TPMANV{PolicyRead: true, PolicyWrite: true}, 4, false, []byte("poli"))
	_, err = os.ReadFile(f.path("nv/0x01500005"))
	wantErrno(t, "read with the wrong (empty) auth value", err, syscall.EACCES)
	_, err = os.ReadFile(f.path("nv/0x01500006"))
	wantErrno(t, "read of a policy-only index", err, syscall.EPERM)
	if fi, _ := os.Stat(f.path("nv/0x01500006")); fi.Mode().Perm() != 0 {
		t.Errorf("policy-only index mode %v", fi.Mode())
	}
	f.tpm.FailNV(faketpm.ErrInjected)
	_, err = os.ReadDir(f.path("nv"))
	wantErrno(t, "list with a failing TPM", err, syscall.EIO)
	f.tpm.FailNV(nil)
}

// TestNVStale: a descriptor of an index undefined and redefined since
// fails, and never reaches the new one.
func TestNVStale(t *testing.T) {
	f := mountFake(t)
	p := f.path("nv/0x01500020")
	define(p, 16)
	r, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	os.Remove(p)
	define(p, 32)
	_, err = r.WriteAt([]byte("x"), 0)
	wantErrno(t, "write through a descriptor of the undefined index", err, syscall.ESTALE)
	_, err = r.ReadAt(make([]byte, 4), 0)
	wantErrno(t, "read through it", err, syscall.ESTALE)
	if fi, _ := os.Stat(p); fi.Size() != 32 {
		t.Errorf("the new index: %v", fi)
	}
	_, err = os.ReadFile(p)
	wantErrno(t, "the new index is unwritten", err, syscall.ENODATA)
}

func TestNVReadOnly(t *testing.T) {
	f := mountFake(t, readOnly)
	f.tpm.DefineNV(0x01500001, tpm2.TPMANV{AuthRead: true, AuthWrite: true}, 4, false, []byte("data"))
	if got := readPCR(t, f, "nv/0x01500001"); got != "data" {
		t.Errorf("read on a read-only mount: %q", got)
	}
	wantErrno(t, "write", os.WriteFile(f.path("nv/0x01500001"), []byte("x"), 0), syscall.EROFS)
	wantErrno(t, "define", define(f.path("nv/0x01500002"), 4), syscall.EROFS)
	wantErrno(t, "undefine", os.Remove(f.path("nv/0x01500001")), syscall.EROFS)
}
