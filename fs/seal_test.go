package fs

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/faketpm"
	"tpmfs/tpmcore/pcrsel"
)

func TestSealRoundTrip(t *testing.T) {
	f := mountFake(t)
	if err := syscall.Mkdir(f.path("seal/k"), 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f.path("seal/k"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new object: %v, %v; want a 0700 directory", fi, err)
	}
	wantErrno(t, "mkdir of an existing name", os.Mkdir(f.path("seal/k"), 0o700), syscall.EEXIST)
	wantErrno(t, "mkdir of a bad name", os.Mkdir(f.path("seal/.hidden"), 0o700), syscall.EINVAL)
	if err := os.WriteFile(f.path("seal/k/pcrs"), []byte("sha256:0,7\n"), 0); err != nil {
		t.Fatal(err)
	}
	secret := []byte("the secret\n")
	if err := os.WriteFile(f.path("seal/k/data"), secret, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(f.path("seal/k/data")); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("data = %q, %v", got, err)
	}
	if fi, _ := os.Stat(f.path("seal/k/data")); fi.Size() != int64(len(secret)) || fi.Mode().Perm() != 0o600 {
		t.Errorf("data stat: %v", fi)
	}
	if got := readPCR(t, f, "seal/k/pcrs"); got != "sha256:0,7\n" {
		t.Errorf("pcrs = %q", got)
	}
	if got := readPCR(t, f, "seal/k/policy"); len(got) != 65 {
		t.Errorf("policy = %q", got)
	}
	_, err = os.OpenFile(f.path("seal/k/policy"), os.O_WRONLY, 0)
	wantErrno(t, "open policy for writing", err, syscall.EACCES)
	entries, _ := os.ReadDir(f.path("seal/k"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "authkey data pcrs pcrsig policy status" {
		t.Errorf("object lists %v", names)
	}
	// A PCR moves: open of data is EACCES, the log names the cause.
	f.tpm.Extend(nil, pcrsel.SHA256, 7, make([]byte, 32))
	_, err = os.Open(f.path("seal/k/data"))
	wantErrno(t, "unseal after PCR 7 moved", err, syscall.EACCES)
	// chmod of the object is the owner's; it persists.
	if err := os.Chmod(f.path("seal/k"), 0o750); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f.path("seal/k/data")); fi.Mode().Perm() != 0o640 {
		t.Errorf("data after chmod 750: %v", fi.Mode())
	}
	if err := os.Chown(f.path("seal/k"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f.path("seal/k")); fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("chown did not stick")
	}
	if err := syscall.Rmdir(f.path("seal/k")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.path("seal/k")); !os.IsNotExist(err) {
		t.Errorf("after rmdir: %v", err)
	}
	wantErrno(t, "rmdir of a missing object", syscall.Rmdir(f.path("seal/k")), syscall.ENOENT)
}

// TestSealStaleDescriptor: descriptors of a removed object fail and
// never reach the object that takes its name; the new object is a new
// inode.
func TestSealStaleDescriptor(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("seal/k"), 0o700)
	os.WriteFile(f.path("seal/k/data"), []byte("old"), 0)
	oldIno := inode(t, f.path("seal/k"))
	r, err := os.Open(f.path("seal/k/data"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.OpenFile(f.path("seal/k/pcrs"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	syscall.Rmdir(f.path("seal/k"))
	os.Mkdir(f.path("seal/k"), 0o700)
	os.WriteFile(f.path("seal/k/data"), []byte("new secret"), 0)
	if inode(t, f.path("seal/k")) == oldIno {
		t.Error("the new object has the old inode number")
	}
	buf := make([]byte, 100)
	_, err = r.ReadAt(buf, 0)
	wantErrno(t, "read through a descriptor of the removed object", err, syscall.ESTALE)
	_, err = w.Write([]byte("sha256:16\n"))
	wantErrno(t, "write through a descriptor of the removed object", err, syscall.ESTALE)
	if got := readPCR(t, f, "seal/k/pcrs"); got != "" {
		t.Errorf("new object's pcrs = %q", got)
	}
	if got := readPCR(t, f, "seal/k/data"); got != "new secret" {
		t.Errorf("new object's data = %q", got)
	}
}

// TestSealMode000: chmod 000 of an object shows (and so enforces) mode
// 0000 on it and its files, not go-fuse's default for a zero mode.
func TestSealMode000(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("seal/k"), 0o700)
	os.WriteFile(f.path("seal/k/data"), []byte("s"), 0)
	if err := os.Chmod(f.path("seal/k"), 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"seal/k", "seal/k/data", "seal/k/policy"} {
		if fi, err := os.Stat(f.path(p)); err != nil || fi.Mode().Perm() != 0 {
			t.Errorf("%s after chmod 000: %v %v", p, fi.Mode(), err)
		}
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestSealShellRedirect: `echo … > data` seals once, only what was
// written; a typo in pcrs changes nothing; a second line is refused.
func TestSealShellRedirect(t *testing.T) {
	f := mountFake(t)
	os.Mkdir(f.path("seal/k"), 0o700)
	sh := func(script string) (string, error) {
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		return string(out), err
	}
	if out, err := sh("echo first > " + f.path("seal/k/data")); err != nil {
		t.Fatal(out, err)
	}
	seals, _, _ := f.tpm.Counts()
	if out, err := sh("echo second > " + f.path("seal/k/data")); err != nil {
		t.Fatal(out, err)
	}
	if n, _, _ := f.tpm.Counts(); n != seals+1 {
		t.Errorf("echo > data sealed %d times", n-seals)
	}
	if got := readPCR(t, f, "seal/k/data"); got != "second\n" {
		t.Errorf("data = %q", got)
	}
	sh("echo sha256:0 > " + f.path("seal/k/pcrs"))
	policy := readPCR(t, f, "seal/k/policy")
	for _, script := range []string{"echo sha256:99 > ", "(echo sha256:0; echo sha256:7) > ", "echo md5:1 > "} {
		out, err := sh(script + f.path("seal/k/pcrs"))
		if err == nil || !strings.Contains(out, "Invalid argument") {
			t.Errorf("%s: %v %q; want the shell to report EINVAL", script, err, out)
		}
		if got := readPCR(t, f, "seal/k/pcrs"); got != "sha256:0\n" {
			t.Errorf("after %q: pcrs = %q", script, got)
		}
		if got := readPCR(t, f, "seal/k/policy"); got != policy {
			t.Errorf("after %q: policy changed", script)
		}
		if got := readPCR(t, f, "seal/k/data"); got != "second\n" {
			t.Errorf("after %q: data = %q", script, got)
		}
	}
	// `: > data` empties it; truncate -s 0 too.
	sh(": > " + f.path("seal/k/data"))
	waitFor(t, "the empty secret", func() bool { b, _ := os.ReadFile(f.path("seal/k/data")); return len(b) == 0 })
	os.WriteFile(f.path("seal/k/data"), []byte("x"), 0)
	if err := os.Truncate(f.path("seal/k/data"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readPCR(t, f, "seal/k/data"); got != "" {
		t.Errorf("after truncate -s 0: %q", got)
	}
	wantErrno(t, "truncate to 5", os.Truncate(f.path("seal/k/data"), 5), syscall.EINVAL)
	// A seal that fails at close: close reports it, the old secret stays.
	os.WriteFile(f.path("seal/k/data"), []byte("kept"), 0)
	f.tpm.Fail(faketpm.OpSeal, faketpm.ErrInjected)
	wantErrno(t, "seal failing at close", os.WriteFile(f.path("seal/k/data"), []byte("lost"), 0), syscall.EIO)
	f.tpm.Fail(faketpm.OpSeal, nil)
	if got := readPCR(t, f, "seal/k/data"); got != "kept" {
		t.Errorf("after a failed seal: %q", got)
	}
	// A TPM that cannot seal is refused at open, where echo sees it.
	f.tpm.Fail(faketpm.OpReady, faketpm.ErrInjected)
	if out, err := sh("echo x > " + f.path("seal/k/data")); err == nil || !strings.Contains(out, "Input/output error") {
		t.Errorf("echo with a TPM that cannot seal: %v %q", err, out)
	}
	f.tpm.Fail(faketpm.OpReady, nil)
	// Over 1 MiB: EFBIG.
	wantErrno(t, "1 MiB + 1", os.WriteFile(f.path("seal/k/data"), make([]byte, 1<<20+1), 0), syscall.EFBIG)
}

func TestSealQuotaAndDamage(t *testing.T) {
	f := mountFake(t, withQuota(1, 10))
	os.Mkdir(f.path("seal/a"), 0o700)
	// Root has no quota; run as root, so give the object away first.
	os.Chown(f.path("seal/a"), 1000, 1000)
	wantErrno(t, "11 bytes into a 10-byte quota", os.WriteFile(f.path("seal/a/data"), make([]byte, 11), 0), syscall.EDQUOT)
	if err := os.WriteFile(f.path("seal/a/data"), make([]byte, 10), 0); err != nil {
		t.Errorf("10 bytes: %v", err)
	}
	// A damaged state file: listed, EIO to read, removable.
	os.Mkdir(f.path("seal/bad"), 0o700)
	if err := os.WriteFile(f.store.Dir()+"/bad.json", []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(f.path("seal"))
	if len(entries) != 2 {
		t.Errorf("seal lists %v", entries)
	}
	_, err := os.ReadFile(f.path("seal/bad/data"))
	wantErrno(t, "read a damaged object", err, syscall.EIO)
	if err := syscall.Rmdir(f.path("seal/bad")); err != nil {
		t.Errorf("rmdir of a damaged object: %v", err)
	}
}
