//go:build linux

package tddl_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tddltest"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

// A raw pseudo-terminal stands in for a device whose answer comes later:
// tddl opens the slave, the test reads the command from the master and
// answers when it likes, as a TPM driver running the command would.
func openPTY(t *testing.T) (tpm tddl.TPM, master *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		swtpmtest.SkipOrFail(t, "no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var ptn uint32
	err = withFd(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		ptn = n
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slave := fmt.Sprintf("/dev/pts/%d", ptn)
	if err := makeRaw(slave); err != nil {
		t.Fatal(err)
	}
	tpm, err = tddl.Open(source.Config{Kind: source.Device, Path: slave})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tpm.Close() })
	return tpm, master
}

func withFd(f *os.File, fn func(fd int) error) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// makeRaw turns off every line-discipline rewrite, so bytes pass as they are.
func makeRaw(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}

func TestDeviceLateResponse(t *testing.T) {
	tpm, master := openPTY(t)
	cmd := tddltest.GetRandomCmd(0x8001)
	answer := bytes.Repeat([]byte{0xAB}, 20)
	copy(answer, []byte{0x80, 0x01, 0, 0, 0, 20, 0, 0, 0, 0})
	go func() {
		got := make([]byte, len(cmd))
		if _, err := io.ReadFull(master, got); err != nil || !bytes.Equal(got, cmd) {
			t.Errorf("device saw %x, %v; want %x", got, err, cmd)
		}
		// Answer only once Send is surely waiting for it.
		time.Sleep(50 * time.Millisecond)
		master.Write(answer)
	}()
	rsp, err := tpm.Send(cmd)
	if err != nil || !bytes.Equal(rsp, answer) {
		t.Fatalf("Send = %x, %v; want %x", rsp, err, answer)
	}
}

func TestDeviceCloseUnblocksSend(t *testing.T) {
	tpm, master := openPTY(t)
	cmd := tddltest.GetRandomCmd(0x8001)
	done := make(chan error, 1)
	go func() { _, err := tpm.Send(cmd); done <- err }()
	if _, err := io.ReadFull(master, make([]byte, len(cmd))); err != nil {
		t.Fatal(err)
	}
	if err := tpm.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, tddl.ErrClosed) {
			t.Fatalf("Send after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock Send")
	}
}
