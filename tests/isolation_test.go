package tests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// heldOpen is a shell of another user that opens descriptors and then
// acts on them when told: a descriptor kept across rmdir/mkdir.
type heldOpen struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// holdAs starts script as u; script opens its descriptors, says "ready"
// and reads a line before going on; its output comes back by readLine.
func holdAs(t *testing.T, u asUser, script string) *heldOpen {
	t.Helper()
	args := []string{fmt.Sprintf("--reuid=%d", u.uid), fmt.Sprintf("--regid=%d", u.gid), "--clear-groups",
		"--", "env", "LC_ALL=C", "bash", "-c", script}
	h := &heldOpen{cmd: exec.Command("setpriv", args...)}
	h.cmd.Stderr = h.cmd.Stdout
	var err error
	if h.in, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	pipe, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.cmd.Stderr = nil
	h.out = bufio.NewReader(pipe)
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.in.Close(); stopProcess(h.cmd) })
	if line := h.readLine(t); line != "ready" {
		t.Fatalf("held shell said %q", line)
	}
	return h
}

func (h *heldOpen) readLine(t *testing.T) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := h.out.ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(20 * time.Second):
		t.Fatal("held shell silent for 20s")
		return ""
	}
}

// TestIsolationStaleDescriptors: user B keeps seal/k/data open for
// reading and seal/k/pcrs for writing, and removes k; user A creates k
// again and seals a secret. B's descriptors fail and neither read A's
// secret nor reseal A's object.
func TestIsolationStaleDescriptors(t *testing.T) {
	require(t, "setpriv", "bash")
	for _, backend := range []string{"swtpm", "sim"} {
		t.Run(backend, func(t *testing.T) {
			source := "sim:"
			if backend == "swtpm" {
				source = swtpmtest.Start(t).Source()
			}
			m := mountShared(t, source, "allow_other,seal_mode=1777")
			k := m.Path("seal", "k")
			other.must(t, fmt.Sprintf("mkdir %[1]s && echo 'b secret' > %[1]s/data", k))
			b := holdAs(t, other, fmt.Sprintf(`exec 3<%[1]s/data 4>>%[1]s/pcrs; echo ready; read _
				cat <&3 2>&1 | head -c 200; echo; echo "cat:$?"
				echo sha256:16 >&4 && echo reseal:ok || echo reseal:failed
				exec 4>&-; echo closed; read _`, k))
			other.must(t, "rmdir "+k)
			nobody.must(t, fmt.Sprintf("mkdir %[1]s && chmod 0755 %[1]s && echo 'a secret' > %[1]s/data", k))
			fmt.Fprintln(b.in, "go")
			var lines []string
			for line := ""; line != "closed"; {
				line = b.readLine(t)
				lines = append(lines, line)
			}
			out := strings.Join(lines, "\n")
			if strings.Contains(out, "a secret") || !strings.Contains(out, "Stale file handle") || !strings.Contains(out, "reseal:failed") {
				t.Errorf("B's old descriptors after A recreated k:\n%s", out)
			}
			if got := nobody.must(t, "cat "+k+"/pcrs "+k+"/data"); got != "a secret\n" {
				t.Errorf("A's object after B's stale writes: %q", got)
			}
		})
	}
}

// TestIsolationInodesUnique: every object, and every object created again
// under an old name, has an inode number of its own; they do not derive
// from the name, so no two names can share one.
func TestIsolationInodesUnique(t *testing.T) {
	m := mountTPM(t, "sim:")
	seen := map[uint64]string{}
	for i := range 100 {
		name := fmt.Sprintf("o%d", i)
		p := m.Path("seal", name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		ino := statIno(t, p)
		if prev, dup := seen[ino]; dup {
			t.Fatalf("%s and %s share inode %d", name, prev, ino)
		}
		seen[ino] = name
	}
	first := statIno(t, m.Path("seal", "o1"))
	if statIno(t, m.Path("seal", "o1")) != first {
		t.Error("an object's inode number changed while mounted")
	}
	for range 3 {
		syscall.Rmdir(m.Path("seal", "o1"))
		os.Mkdir(m.Path("seal", "o1"), 0o700)
		ino := statIno(t, m.Path("seal", "o1"))
		if _, dup := seen[ino]; dup {
			t.Fatalf("o1 created again got the used inode %d", ino)
		}
		seen[ino] = "o1 again"
	}
}

func statIno(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestIsolationRedirectNeverEmpty: readers in a loop while a shell
// rewrites the secret with printf > data never see an empty or partial
// secret; after kill -9 of the daemon in such a loop the secret is whole.
func TestIsolationRedirectNeverEmpty(t *testing.T) {
	require(t, "bash")
	m := mountTPM(t, "sim:")
	data := m.Path("seal", "k", "data")
	os.Mkdir(m.Path("seal", "k"), 0o700)
	pad := strings.Repeat("x", 3000)
	version := func(i int) string { return fmt.Sprintf("v%d-%s-end", i, pad) }
	if err := writeFile(data, []byte(version(0))); err != nil {
		t.Fatal(err)
	}
	writer := exec.Command("bash", "-c", fmt.Sprintf(`for i in $(seq 1 60); do printf 'v%%d-%s-end' $i > %s || exit 1; done`, pad, data))
	var wout bytes.Buffer
	writer.Stdout, writer.Stderr = &wout, &wout
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- writer.Wait() }()
	var bad []string
	reads := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer loop: %v\n%s", err, wout.String())
			}
			running = false
		default:
		}
		got, err := os.ReadFile(data)
		reads++
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		s := string(got)
		if !strings.HasPrefix(s, "v") || !strings.HasSuffix(s, "-"+pad+"-end") {
			bad = append(bad, fmt.Sprintf("%d bytes: %.20q", len(got), s))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d reads during the writer loop were not a whole secret: %v", len(bad), reads, bad[:min(len(bad), 5)])
	}
	if got, _ := os.ReadFile(data); string(got) != version(60) {
		t.Errorf("after the loop: %.20q", got)
	}
	t.Logf("%d reads, all whole", reads)
}

// TestIsolationEarlyErrors: failures that would only show at close are
// reported by open or write, so echo prints them and exits non-zero: an
// unowned TPM 1.2; a typo in pcrs changes nothing.
func TestIsolationEarlyErrors(t *testing.T) {
	require(t, "bash")
	tpm := swtpmtest.Start12(t, false)
	m := mountTPM(t, tpm.Source(), "state="+t.TempDir())
	os.Mkdir(m.Path("seal", "k"), 0o700)
	out, err := shErr("bash -c 'echo secret > " + m.Path("seal", "k", "data") + "'")
	if err == nil || !strings.Contains(out, "Input/output error") {
		t.Errorf("echo into seal/ on an unowned TPM 1.2: %v, %q; want the shell to report EIO", err, out)
	}
	if !m.waitLog("take ownership") {
		t.Errorf("the log does not say to take ownership:\n%s", m.Stderr())
	}
	if got, _ := os.ReadFile(m.Path("seal", "k", "data")); len(got) != 0 {
		t.Errorf("data = %q", got)
	}
}

func TestIsolationSelectionTypo(t *testing.T) {
	require(t, "bash")
	m := mountTPM(t, "sim:")
	k := m.Path("seal", "k")
	sh(t, fmt.Sprintf("mkdir %[1]s && echo sha256:0,7 > %[1]s/pcrs && echo secret > %[1]s/data", k))
	before := sh(t, fmt.Sprintf("cat %[1]s/pcrs %[1]s/policy %[1]s/data", k))
	for _, typo := range []string{"echo sha256:99", "(echo sha256:0; echo sha256:7)", "echo sha256:0,,7", "echo sha512:0 sha256:1"} {
		out, err := shErr(fmt.Sprintf("bash -c '%s > %s/pcrs'", typo, k))
		if err == nil || !strings.Contains(out, "Invalid argument") {
			t.Errorf("%s > pcrs: %v %q; want the shell to report EINVAL", typo, err, out)
		}
		if after := sh(t, fmt.Sprintf("cat %[1]s/pcrs %[1]s/policy %[1]s/data", k)); after != before {
			t.Errorf("after %s > pcrs: %q, was %q", typo, after, before)
		}
	}
}

// TestIsolationTreeNotRemovable: as root, the fixed nodes and an object's
// files cannot be removed or renamed; rmdir removes a whole object.
func TestIsolationTreeNotRemovable(t *testing.T) {
	m := mountTPM(t, "sim:")
	sh(t, "mkdir "+m.Path("seal", "k"))
	for _, script := range []string{
		"rm " + m.Path("info"), "rm -rf " + m.Path("pcrs"), "rmdir " + m.Path("seal"), "rm " + m.Path("tpmrm0"),
		"rm " + m.Path("seal", "k", "data"), "rm " + m.Path("seal", "k", "pcrs"), "rm -f " + m.Path("seal", "k", "policy"),
		"mv " + m.Path("random") + " " + m.Path("random2"), "mv " + m.Path("seal", "k") + " " + m.Path("seal", "k2"),
	} {
		root.refused(t, syscall.EPERM, script)
	}
	for _, p := range []string{"info", "random", "tpmrm0", "pcrs/00", "pcrs/sha256/23", "seal", "seal/k/data", "seal/k/pcrs", "seal/k/policy"} {
		if _, err := os.Stat(m.Path(p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	sh(t, "echo still writable > "+m.Path("seal", "k", "data"))
	sh(t, "rmdir "+m.Path("seal", "k"))
	if _, err := os.Stat(m.Path("seal", "k")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after rmdir: %v", err)
	}
}

// TestIsolationStateDirTrust: an unsafe state directory is refused with a
// message naming it; a planted .lock symlink is not followed.
func TestIsolationStateDirTrust(t *testing.T) {
	base := t.TempDir()
	unsafe := filepath.Join(base, "shared")
	os.Mkdir(unsafe, 0o700)
	os.Chmod(unsafe, 0o777)
	out, err := runErr(tpmfsBin, "-f", "sim:", t.TempDir(), "-o", "state="+filepath.Join(unsafe, "state"))
	if err == nil || !strings.Contains(out, unsafe) || !strings.Contains(out, "writable by group or others") {
		t.Errorf("mount with a world-writable parent of state=: %v\n%s", err, out)
	}
	os.Chmod(unsafe, 0o700)
	state := filepath.Join(base, "state")
	os.Mkdir(state, 0o700)
	target := filepath.Join(t.TempDir(), "root-file")
	os.WriteFile(target, []byte("precious\n"), 0o644)
	os.Symlink(target, filepath.Join(state, ".lock"))
	out, err = runErr(tpmfsBin, "-f", "sim:", t.TempDir(), "-o", "state="+state)
	if err == nil || !strings.Contains(out, ".lock is a symlink") {
		t.Errorf("mount with a planted .lock symlink: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	// A state file of another user is not served.
	os.Remove(filepath.Join(state, ".lock"))
	m := mountTPM(t, "sim:", "state="+state)
	sh(t, "mkdir "+m.Path("seal", "mine"))
	planted := strings.Replace(string(must(os.ReadFile(filepath.Join(state, "mine.json")))), `"mine"`, `"planted"`, 1)
	os.WriteFile(filepath.Join(state, "planted.json"), []byte(planted), 0o600)
	os.Chown(filepath.Join(state, "planted.json"), 65534, 65534)
	if got := sh(t, "ls "+m.Path("seal")); got != "mine\n" {
		t.Errorf("ls seal with a planted file of another user: %q", got)
	}
	if !m.waitLog("skipped") {
		t.Errorf("the planted file is not logged:\n%s", m.Stderr())
	}
}

// TestIsolationMemoryBounded: 400 descriptors open on one 1 MiB secret
// hold it once: the daemon grows by at most 64 MiB.
func TestIsolationMemoryBounded(t *testing.T) {
	m := mountTPM(t, swtpmtest.Start(t).Source())
	secret := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	sealSecret(t, m, "big", secret)
	before := vmRSS(t, m.cmd.Process.Pid)
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	buf := make([]byte, len(secret))
	for i := range 400 {
		f, err := os.Open(m.Path("seal", "big", "data"))
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		files = append(files, f)
		if n, err := io.ReadFull(f, buf); n != len(secret) || err != nil {
			t.Fatalf("read %d: %d, %v", i, n, err)
		}
	}
	after := vmRSS(t, m.cmd.Process.Pid)
	t.Logf("daemon RSS %d MiB before, %d MiB with 400 descriptors on a 1 MiB secret", before>>20, after>>20)
	if after-before > 64<<20 {
		t.Errorf("the daemon grew by %d MiB", (after-before)>>20)
	}
}

func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestIsolationQuota: a user past seal_quota= gets EDQUOT; root is not
// limited.
func TestIsolationQuota(t *testing.T) {
	m := mountShared(t, "sim:", "allow_other,seal_mode=1777,seal_quota=2:1K")
	nobody.must(t, "mkdir "+m.Path("seal", "n1")+" "+m.Path("seal", "n2"))
	nobody.refused(t, syscall.EDQUOT, "mkdir "+m.Path("seal", "n3"))
	nobody.refused(t, syscall.EDQUOT, "head -c 1025 /dev/zero > "+m.Path("seal", "n1", "data"))
	nobody.must(t, "head -c 1000 /dev/zero > "+m.Path("seal", "n1", "data"))
	nobody.refused(t, syscall.EDQUOT, "head -c 100 /dev/zero > "+m.Path("seal", "n2", "data"))
	other.must(t, "mkdir "+m.Path("seal", "o1"))
	sh(t, "mkdir "+m.Path("seal", "r1")+" "+m.Path("seal", "r2")+" "+m.Path("seal", "r3"))
	sh(t, "head -c 5000 /dev/zero > "+m.Path("seal", "r1", "data"))
	nobody.must(t, "rmdir "+m.Path("seal", "n2"))
	nobody.must(t, "mkdir "+m.Path("seal", "n3"))
}
