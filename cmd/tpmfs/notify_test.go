package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// listenNotify opens a datagram socket like a service manager's.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %q: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("receive notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotifyPath(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn := listenNotify(t, sock)
	for _, state := range []string{"READY=1", "STOPPING=1"} {
		if err := sdNotify(sock, state); err != nil {
			t.Fatalf("sdNotify(%s): %v", state, err)
		}
		if got := receive(t, conn); got != state {
			t.Errorf("received %q, want %q", got, state)
		}
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := fmt.Sprintf("@tpmfs-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn := listenNotify(t, name)
	// Check independently that the listener is abstract: the kernel lists
	// abstract names with a leading '@', and no file of that name exists.
	unix, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		swtpmtest.SkipOrFail(t, "no /proc/net/unix: %v", err)
	}
	if !strings.Contains(string(unix), " "+name+"\n") {
		t.Fatalf("%s not listed as an abstract socket in /proc/net/unix", name)
	}
	if _, err := os.Lstat(name); err == nil {
		t.Fatalf("a file %q was created instead of an abstract socket", name)
	}
	if err := sdNotify(name, "READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1" {
		t.Errorf("received %q, want READY=1", got)
	}
}

func TestNotifyUnset(t *testing.T) {
	if err := sdNotify("", "READY=1"); err != nil {
		t.Errorf("sdNotify without a socket: %v, want nil", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, sock := range []string{"vsock:2:1234", "relative/sock", filepath.Join(t.TempDir(), "absent")} {
		if err := sdNotify(sock, "READY=1"); err == nil || !strings.Contains(err.Error(), "READY=1") {
			t.Errorf("sdNotify(%q) = %v, want an error naming the state", sock, err)
		}
	}
}
