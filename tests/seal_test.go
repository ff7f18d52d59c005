package tests

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// mountSeal mounts tpm with a state directory of the test's own.
func mountSeal(t *testing.T, source, state string, opts ...string) *mount {
	t.Helper()
	return mountTPM(t, source, append([]string{"state=" + state}, opts...)...)
}

func TestSealRoundTripSizes(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	m := mountSeal(t, tpm.Source(), state)
	secrets := map[string][]byte{}
	for _, n := range []int{0, 1, 128, 5000, 1 << 20} {
		name := fmt.Sprintf("s%d", n)
		secret := make([]byte, n)
		rand.Read(secret)
		secrets[name] = secret
		if err := os.Mkdir(m.Path("seal", name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := writeFile(m.Path("seal", name, "data"), secret); err != nil {
			t.Fatalf("seal %d bytes: %v", n, err)
		}
		got, err := os.ReadFile(m.Path("seal", name, "data"))
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("unseal %d bytes: err=%v, equal=%v", n, err, bytes.Equal(got, secret))
		}
		if fi, err := os.Stat(m.Path("seal", name, "data")); err != nil || fi.Size() != int64(n) {
			t.Errorf("stat data of %d bytes: size %v, err %v", n, fi.Size(), err)
		}
	}
	// Over 1 MiB: EFBIG, and the old secret stays.
	err := writeFile(m.Path("seal", "s1", "data"), make([]byte, 1<<20+1))
	if !errors.Is(err, syscall.EFBIG) {
		t.Errorf("seal 1 MiB + 1: err = %v, want EFBIG", err)
	}
	// Shell users: echo and cat, several writes (cp), O_TRUNC.
	os.Mkdir(m.Path("seal", "shell"), 0o700)
	sh(t, fmt.Sprintf("echo first > %[1]s && echo 'the real secret' > %[1]s", m.Path("seal", "shell", "data")))
	if got := sh(t, "cat "+m.Path("seal", "shell", "data")); got != "the real secret\n" {
		t.Errorf("after O_TRUNC rewrite: cat = %q", got)
	}
	src := filepath.Join(t.TempDir(), "src")
	big := make([]byte, 300000)
	rand.Read(big)
	os.WriteFile(src, big, 0o600)
	sh(t, "cp "+src+" "+m.Path("seal", "shell", "data"))
	if got := must(os.ReadFile(m.Path("seal", "shell", "data"))); !bytes.Equal(got, big) {
		t.Errorf("cp of 300000 bytes did not round-trip")
	}
	secrets["shell"] = big

	// The state directory holds no plaintext.
	for name, secret := range secrets {
		if len(secret) < 16 {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(state, "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if bytes.Contains(b, secret[:16]) {
				t.Errorf("state file %s contains plaintext of %s", f, name)
			}
		}
	}

	// A new daemon on the same TPM and state opens them all.
	m.unmount(t)
	m2 := mountSeal(t, tpm.Source(), state)
	names := sh(t, "ls "+m2.Path("seal"))
	for name, secret := range secrets {
		if !strings.Contains(names, name) {
			t.Errorf("ls seal after remount lacks %s: %q", name, names)
		}
		got, err := os.ReadFile(m2.Path("seal", name, "data"))
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("%s after remount: err=%v equal=%v", name, err, bytes.Equal(got, secret))
		}
	}
	// rmdir removes an object with its files, and it stays removed.
	sh(t, "rmdir "+m2.Path("seal", "s0"))
	if _, err := os.Stat(m2.Path("seal", "s0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after rmdir: stat err = %v", err)
	}
	m2.unmount(t)
	// Nothing left in the TPM (swtpm serves one client: after unmount).
	if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), "handles-transient"); strings.TrimSpace(out) != "" {
		t.Errorf("transient handles left after unmount: %q", out)
	}
}

func TestSealPolicy(t *testing.T) {
	require(t, "tpm2_createpolicy")
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	m := mountSeal(t, tpm.Source(), state)
	for _, n := range []string{"bound", "free"} {
		os.Mkdir(m.Path("seal", n), 0o700)
	}
	sh(t, "echo sha256:0,16 > "+m.Path("seal", "bound", "pcrs"))
	sh(t, "echo bound secret > "+m.Path("seal", "bound", "data"))
	sh(t, "echo free secret > "+m.Path("seal", "free", "data"))
	if got := sh(t, "cat "+m.Path("seal", "bound", "pcrs")); got != "sha256:0,16\n" {
		t.Errorf("pcrs = %q", got)
	}
	policy := strings.TrimSpace(sh(t, "cat "+m.Path("seal", "bound", "policy")))
	if got := sh(t, "cat "+m.Path("seal", "bound", "data")); got != "bound secret\n" {
		t.Fatalf("unseal before PCR change = %q", got)
	}
	// The policy digest equals tpm2_createpolicy's on the same TPM state.
	m.unmount(t)
	pfile := filepath.Join(t.TempDir(), "policy")
	run(t, "tpm2_createpolicy", "-T", tpm.TCTI(), "--policy-pcr", "-l", "sha256:0,16", "-L", pfile)
	if want := fmt.Sprintf("%x", must(os.ReadFile(pfile))); policy != want {
		t.Errorf("policy = %s, tpm2_createpolicy says %s", policy, want)
	}

	// Change PCR 16: the bound object is EACCES, the free one opens.
	m = mountSeal(t, tpm.Source(), state)
	sh(t, "echo measured > "+m.Path("pcrs", "16"))
	_, err := os.ReadFile(m.Path("seal", "bound", "data"))
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("unseal after PCR 16 changed: err = %v, want EACCES", err)
	}
	if !m.waitLog("sha256:16") {
		t.Errorf("log does not name the PCR that differs:\n%s", m.Stderr())
	}
	if got := sh(t, "cat "+m.Path("seal", "free", "data")); got != "free secret\n" {
		t.Errorf("unbound object after PCR change = %q", got)
	}
	// Reseal is refused while the old policy fails, and changes nothing.
	if err := writeFile(m.Path("seal", "bound", "pcrs"), []byte("sha256:0\n")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("reseal under a failing policy: err = %v, want EACCES", err)
	}
	if got := sh(t, "cat "+m.Path("seal", "bound", "pcrs")); got != "sha256:0,16\n" {
		t.Errorf("pcrs after refused reseal = %q", got)
	}
	// Reseal of the free object to PCR 0+16 works, and binds it.
	sh(t, "echo sha256:16+sha1:0 > "+m.Path("seal", "free", "pcrs"))
	if got := sh(t, "cat "+m.Path("seal", "free", "pcrs")); got != "sha1:0+sha256:16\n" {
		t.Errorf("pcrs after reseal = %q", got)
	}
	if got := sh(t, "cat "+m.Path("seal", "free", "data")); got != "free secret\n" {
		t.Errorf("after reseal = %q", got)
	}
	sh(t, "echo again > "+m.Path("pcrs", "16"))
	if _, err := os.ReadFile(m.Path("seal", "free", "data")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("resealed object after PCR 16 changed: err = %v, want EACCES", err)
	}
	// Bad selections and names: EINVAL.
	for _, bad := range []string{"sha256:24\n", "md5:1\n", "sha256:x\n", "sha256\n"} {
		if err := writeFile(m.Path("seal", "free", "pcrs"), []byte(bad)); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("pcrs %q: err = %v, want EINVAL", bad, err)
		}
	}
	for _, bad := range []string{".hidden", strings.Repeat("x", 65), "a b", "semi;colon"} {
		if err := os.Mkdir(m.Path("seal", bad), 0o700); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("mkdir %q: err = %v, want EINVAL", bad, err)
		}
	}
}

func TestSealOtherTPMCannotOpen(t *testing.T) {
	first, second := swtpmtest.Start(t), swtpmtest.Start(t)
	state := t.TempDir()
	m := mountSeal(t, first.Source(), state)
	os.Mkdir(m.Path("seal", "k"), 0o700)
	sh(t, "echo only for the first TPM > "+m.Path("seal", "k", "data"))
	m.unmount(t)
	m2 := mountSeal(t, second.Source(), state)
	_, err := os.ReadFile(m2.Path("seal", "k", "data"))
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("second TPM unsealing: err = %v, want EIO", err)
	}
	if !m2.waitLog("belongs to another TPM") {
		t.Errorf("the log does not say the object belongs to another TPM:\n%s", m2.Stderr())
	}
	m2.unmount(t)
	m3 := mountSeal(t, first.Source(), state)
	if got := sh(t, "cat "+m3.Path("seal", "k", "data")); got != "only for the first TPM\n" {
		t.Errorf("first TPM after the second tried: %q", got)
	}
}

func TestSealSurvivesKill9(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	versions := map[string]bool{}
	for round := 0; round < 3; round++ {
		m := mountSeal(t, tpm.Source(), state)
		if round == 0 {
			for _, n := range []string{"a", "b"} {
				os.Mkdir(m.Path("seal", n), 0o700)
			}
		}
		// A writer loop in a shell, killed with the daemon under it.
		script := fmt.Sprintf(`i=0; while true; do i=$((i+1)); echo "version $i of a" > %s; echo "version $i of b" > %s; done`,
			m.Path("seal", "a", "data"), m.Path("seal", "b", "data"))
		loop := exec.Command("sh", "-c", script)
		if err := loop.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+round*200) * time.Millisecond)
		m.kill9(t)
		syscall.Unmount(m.Dir, syscall.MNT_DETACH)
		stopProcess(loop)
		m2 := mountSeal(t, tpm.Source(), state)
		for _, n := range []string{"a", "b"} {
			got, err := os.ReadFile(m2.Path("seal", n, "data"))
			if err != nil {
				t.Fatalf("round %d: %s after kill -9: %v\n%s", round, n, err, m2.Stderr())
			}
			// Never empty: a shell's O_TRUNC open seals nothing before
			// the write, so a kill between the two leaves the old secret.
			if !(strings.HasPrefix(string(got), "version ") && strings.HasSuffix(string(got), " of "+n+"\n")) {
				t.Fatalf("round %d: %s after kill -9 is not a whole version: %q", round, n, got)
			}
			versions[string(got)] = true
		}
		m2.unmount(t)
	}
	if len(versions) < 2 {
		t.Errorf("the writer loop never got a secret in: %v", versions)
	}
}
