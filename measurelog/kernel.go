package measurelog

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"tpmfs/tpmcore"
)

// The kernel's logs, by their names under eventlog/, and where securityfs
// keeps them (tpmN for the TPM the mount serves).
var kernelFiles = []struct{ name, path string }{
	{"firmware", "tpmN/binary_bios_measurements"},
	{"ima-ascii", "ima/ascii_runtime_measurements"},
	{"ima-binary", "ima/binary_runtime_measurements"},
}

// kernelPath is where log file f of the kernel's TPM tpmN is under dir.
func kernelPath(dir, f string, tpm int) string {
	return filepath.Join(dir, strings.Replace(f, "tpmN", "tpm"+strconv.Itoa(tpm), 1))
}

// Firmware is the name of the firmware's log among Kernel's.
const Firmware = "firmware"

// MaxKernelLog bounds a kernel log read into memory (an IMA log grows
// with every file measured; a busy server's reaches tens of MiB).
const MaxKernelLog = 256 << 20

// Kernel hands out snapshots of the kernel's logs. Successive snapshots
// of a log that only grows (IMA's) share one buffer, so a thousand open
// files cost one copy of the log, not a thousand.
type Kernel struct {
	paths map[string]string // name → file, for the logs present
	names []string

	mu   sync.Mutex
	last map[string][]byte // the newest snapshot of each log, and room to grow
}

// NewKernel finds the logs present under dir for the kernel's TPM tpmN
// that the daemon may read (securityfs keeps them to root); dir "" means
// none.
func NewKernel(dir string, tpm int) *Kernel {
	k := &Kernel{paths: map[string]string{}, last: map[string][]byte{}}
	if dir == "" {
		return k
	}
	for _, f := range kernelFiles {
		path := kernelPath(dir, f.path, tpm)
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && unix.Access(path, unix.R_OK) == nil {
			k.paths[f.name] = path
			k.names = append(k.names, f.name)
		}
	}
	return k
}

// Names lists the logs present, in a fixed order.
func (k *Kernel) Names() []string { return k.names }

// Open reads log name as it is now.
func (k *Kernel) Open(name string) (Snapshot, error) {
	b, err := k.read(name)
	if err != nil {
		return nil, err
	}
	return memSnapshot{b}, nil
}

// Size is log name's length now.
func (k *Kernel) Size(name string) (int64, error) {
	b, err := k.read(name)
	return int64(len(b)), err
}

// read reads log name whole and returns it, sharing the bytes of the
// last read when the log only grew since.
func (k *Kernel) read(name string) ([]byte, error) {
	path, ok := k.paths[name]
	if !ok {
		return nil, fmt.Errorf("kernel log %s: %w", name, os.ErrNotExist)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	fresh, err := readKernelFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel log %s: %w", name, err)
	}
	last := k.last[name]
	if len(fresh) >= len(last) && len(fresh) <= cap(last) && bytes.Equal(fresh[:len(last)], last) {
		// Snapshots hold last[:n:n]; the bytes past n are not theirs.
		last = append(last, fresh[len(last):]...)
	} else if !bytes.Equal(fresh, last) {
		last = make([]byte, len(fresh), len(fresh)+len(fresh)/4+4096)
		copy(last, fresh)
	}
	k.last[name] = last
	return last[:len(last):len(last)], nil
}

// readKernelFile reads a securityfs file, whose size stat does not tell:
// until EOF, at most MaxKernelLog bytes. It follows no symlink in the
// last component and refuses anything but a regular file.
func readKernelFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxKernelLog+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxKernelLog {
		return nil, fmt.Errorf("%s: over %d MiB: %w", path, MaxKernelLog>>20, tpmcore.ErrTooLarge)
	}
	return b, nil
}
