//go:build linux

package tddl_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/tddltest"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

// The device backend's byte mechanics (one write, one read, size checks)
// are exercised on a FIFO, which reads back what was written: an echo is a
// well-framed response. The conformance suite covers a real TPM device.

func openFIFO(t *testing.T) (tddl.TPM, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	tpm, err := tddl.Open(source.Config{Kind: source.Device, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tpm.Close() })
	return tpm, path
}

func TestDeviceExchange(t *testing.T) {
	tpm, _ := openFIFO(t)
	cmd := tddltest.GetRandomCmd(0x8001)
	rsp, err := tpm.Send(cmd)
	if err != nil || !bytes.Equal(rsp, cmd) {
		t.Fatalf("Send = %x, %v; want the echo %x", rsp, err, cmd)
	}
	if _, err := tpm.Send(cmd[:11]); !errors.Is(err, tddl.ErrCommandSize) {
		t.Fatalf("Send(wrong size) = %v, want ErrCommandSize", err)
	}
	if err := tpm.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tpm.Send(cmd); !errors.Is(err, tddl.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := tpm.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDeviceBadResponse(t *testing.T) {
	tpm, path := openFIFO(t)
	// Bytes already in the pipe precede the echo, so the one read returns
	// something whose size field does not match its length.
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte{0x80, 0x01, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := tpm.Send(tddltest.GetRandomCmd(0x8001)); !errors.Is(err, tddl.ErrBadResponse) {
		t.Fatalf("Send with a stray prefix = %v, want ErrBadResponse", err)
	}
}

func TestDeviceUnreachable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "tpm0")
	_, err := tddl.Open(source.Config{Kind: source.Device, Path: missing})
	if !errors.Is(err, tddl.ErrUnreachable) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Open(missing device) = %v, want ErrUnreachable naming %s", err, missing)
	}
	for _, p := range []string{"/dev/tpmrm0", "/dev/tpm0"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists; auto would find it", p)
		}
	}
	for _, cfg := range []source.Config{{Kind: source.Auto}, {Kind: source.Device}} {
		if _, err := tddl.Open(cfg); !errors.Is(err, tddl.ErrUnreachable) ||
			!strings.Contains(err.Error(), "/dev/tpmrm0") {
			t.Errorf("Open(%+v) without devices = %v, want ErrUnreachable naming /dev/tpmrm0", cfg, err)
		}
	}
}
