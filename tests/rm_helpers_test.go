package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's group setup for tpmrm0: the group permGroup may open it,
// under rm_policy= and rm_quota= (their defaults unless opts say).
func groupMount(t *testing.T, source string, opts ...string) *mount {
	t.Helper()
	return mountShared(t, source, append([]string{"allow_other", "device_mode=0660", "gid=" + itoa(permGroup)}, opts...)...)
}

// workDir is a directory every test user may keep context files in.
func workDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tool runs one tpm2-tools command as u in dir against tcti T.
func (u asUser) tool(dir, T, name string, args ...string) (string, error) {
	return u.sh(fmt.Sprintf("cd %s && %s -T %s %s", dir, name, T, strings.Join(args, " ")))
}

func (u asUser) mustTool(t *testing.T, dir, T, name string, args ...string) string {
	t.Helper()
	out, err := u.tool(dir, T, name, args...)
	if err != nil {
		t.Fatalf("as uid %d: %s %s: %v\n%s", u.uid, name, strings.Join(args, " "), err, out)
	}
	return out
}

// refusedTool checks that a tool run as u fails with the resource
// manager's refusal, as tpm2-tools print it.
func (u asUser) refusedTool(t *testing.T, dir, T, name string, args ...string) {
	t.Helper()
	out, err := u.tool(dir, T, name, args...)
	if err == nil || !strings.Contains(out, "rmt:") {
		t.Errorf("as uid %d: %s %s: err %v, want a resource-manager refusal (rmt:…); output:\n%s", u.uid, name, strings.Join(args, " "), err, out)
	}
}

// background is a script running as a test user while the test goes on:
// it prints lines the test waits for.
type background struct {
	cmd  *exec.Cmd
	out  *lockedWriter
	done chan struct{}
}

// startAs runs a bash script as u in the background; cleanup ends it.
func startAs(t *testing.T, u asUser, script string) *background {
	t.Helper()
	b := &background{out: &lockedWriter{}, done: make(chan struct{})}
	b.cmd = exec.Command("setpriv", append(u.setpriv(), "env", "LC_ALL=C", "bash", "-c", script)...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { stopProcess(b.cmd); <-b.done })
	return b
}

// waitFor waits (bounded) for a line of the script's output that starts
// with prefix.
func (b *background) waitFor(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, l := range strings.Split(b.out.String(), "\n") {
			if strings.HasPrefix(l, prefix) {
				return
			}
		}
		select {
		case <-b.done:
			t.Fatalf("script ended before %q:\n%s", prefix, b.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q from the script within 60s:\n%s", prefix, b.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits (bounded) for the script to end and returns its output.
func (b *background) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("script still runs after 60s:\n%s", b.out.String())
	}
	return b.out.String()
}

// octal spells bytes as printf(1) escapes.
func octal(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, "\\%03o", c)
	}
	return s.String()
}

// rawSend is a bash function: send COMMAND FD writes one command (printf
// escapes) and prints the response code, 8 hex digits.
const rawSend = `send() { printf "$1" >&$2 && dd bs=4096 count=1 status=none <&$2 | od -An -tx1 -v | tr -d ' \n' | cut -c13-20; }
`

// capture is a transport that keeps the command go-tpm builds and sends
// nothing: the bytes a test user's script then writes to tpmrm0.
type capture struct{ cmd []byte }

var errCaptured = errors.New("captured")

func (c *capture) Send(cmd []byte) ([]byte, error) {
	c.cmd = append([]byte(nil), cmd...)
	return nil, errCaptured
}
