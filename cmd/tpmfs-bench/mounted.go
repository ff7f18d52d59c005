//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// pcrText is the size of a sha256 PCR file: 64 hex digits and a newline.
const pcrText = 2*sha256.Size + 1

func pcrPath(d *daemon, i int) string { return d.path("pcrs", "sha256", fmt.Sprintf("%02d", i)) }

// runMount measures through the files of d's mount.
func runMount(d *daemon, o options) (*figures, error) {
	f := newFigures()
	dur, m := o.duration, o.meter
	var err error
	if o.only.has("pcr") {
		if err := preadLatency(d, dur, m, f); err != nil {
			return nil, err
		}
	}
	if o.only.has("cat") {
		if err := f.timed("cat", dur, m, func() error { return catPCR(pcrPath(d, 0)) }); err != nil {
			return nil, err
		}
	}
	if o.only.has("random") {
		if f.rates["random"], f.tpm["random"], err = randomRate(d.path("random"), dur, m, o.randomRead()); err != nil {
			return nil, err
		}
	}
	if o.only.has("readers") {
		if err := concurrentRate(d, dur, m, o.readers, f); err != nil {
			return nil, err
		}
	}
	if o.only.has("extend") {
		digest := sha256.Sum256([]byte("tpmfs-bench"))
		line := []byte(hex.EncodeToString(digest[:]) + "\n")
		err := f.timed("extend", dur, m, func() error {
			// As `echo DIGEST > pcrs/sha256/16`: open with O_TRUNC, write, close.
			return os.WriteFile(pcrPath(d, extendPCR), line, 0o644)
		})
		if err != nil {
			return nil, fmt.Errorf("extend: %w", err)
		}
	}
	if o.only.has("seal") {
		if err := mountSeal(d, dur, m, f); err != nil {
			return nil, err
		}
	}
	if o.only.has("creds") {
		if err := mountCreds(d, dur, m, f); err != nil {
			return nil, err
		}
	}
	f.lat["ready"] = []time.Duration{d.ready}
	return f, nil
}

// preadLatency times pread at offset 0 on one open PCR file: each asks
// the TPM (direct I/O), with no open or close around it. It also times
// pread past the end of the value ("floor"): a FUSE round trip that
// reaches tpmfs but sends no TPM command, and the daemon's CPU per pread.
func preadLatency(d *daemon, dur time.Duration, m *meter, f *figures) error {
	path := pcrPath(d, 0)
	fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, 256)
	ops := 0
	cpu0, err := d.cpuTime()
	if err != nil {
		return fmt.Errorf("daemon CPU time: %w", err)
	}
	if err := f.timed("pcr", dur, m, func() error { ops++; return preadPCR(fd, buf, path) }); err != nil {
		return err
	}
	cpu1, err := d.cpuTime()
	if err != nil {
		return fmt.Errorf("daemon CPU time: %w", err)
	}
	f.cpu["pcr"] = cpuUse{cpu1 - cpu0, ops}
	f.lat["floor"], err = sampleLatency(dur/4, func() error {
		n, err := syscall.Pread(fd, buf, pcrText)
		if err == nil && n != 0 {
			err = fmt.Errorf("pread %s past the end: %d bytes", path, n)
		}
		return err
	})
	return err
}

func preadPCR(fd int, buf []byte, path string) error {
	n, err := syscall.Pread(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("pread %s: %w", path, err)
	}
	return checkPCRText(buf[:n], path)
}

// catPCR does what cat does: open, read until end of file, close.
func catPCR(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return checkPCRText(b, path)
}

func checkPCRText(b []byte, path string) error {
	if len(b) != pcrText || b[len(b)-1] != '\n' {
		return fmt.Errorf("%s: read %q, want %d hex digits and a newline", path, b, pcrText-1)
	}
	if _, err := hex.DecodeString(string(b[:len(b)-1])); err != nil {
		return fmt.Errorf("%s: %q is not hex", path, b)
	}
	return nil
}

func randomRate(path string, dur time.Duration, m *meter, size int) (rate, opCost, error) {
	r, err := os.Open(path)
	if err != nil {
		return rate{}, opCost{}, err
	}
	defer r.Close()
	buf := make([]byte, size)
	return sampleRateMetered(dur, m, 1, func(int) (int, error) {
		n, err := r.Read(buf)
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	})
}

// concurrentRate runs one reader per PCR (0…readers-1), each with its own
// open file, all at once.
func concurrentRate(d *daemon, dur time.Duration, m *meter, readers int, f *figures) error {
	fds := make([]int, readers)
	for i := range fds {
		fd, err := syscall.Open(pcrPath(d, i), syscall.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", pcrPath(d, i), err)
		}
		defer syscall.Close(fd)
		fds[i] = fd
	}
	bufs := make([][]byte, readers)
	for i := range bufs {
		bufs[i] = make([]byte, 256)
	}
	var ops atomic.Int64
	cpu0, err := d.cpuTime()
	if err != nil {
		return fmt.Errorf("daemon CPU time: %w", err)
	}
	f.rates["readers"], f.tpm["readers"], err = sampleRateMetered(dur, m, readers, func(w int) (int, error) {
		ops.Add(1)
		return 1, preadPCR(fds[w], bufs[w], pcrPath(d, w))
	})
	if err != nil {
		return err
	}
	cpu1, err := d.cpuTime()
	if err != nil {
		return fmt.Errorf("daemon CPU time: %w", err)
	}
	f.cpu["readers"] = cpuUse{cpu1 - cpu0, int(ops.Load())}
	return nil
}

// mountSeal times `echo SECRET > seal/bench/data` (sealed on close) and
// `cat seal/bench/data` (unsealed), checking the secret comes back; the
// object is bound to sealPCRs. The first seal after the mount is also
// timed alone ("seal-cold").
func mountSeal(d *daemon, dur time.Duration, m *meter, f *figures) error {
	dir := d.path("seal", "bench")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if err := os.WriteFile(d.path("seal", "bench", "pcrs"), []byte(sealPCRs+"\n"), 0o600); err != nil {
		return fmt.Errorf("seal: pcrs: %w", err)
	}
	data := d.path("seal", "bench", "data")
	secret := benchSecret()
	write := func() error { return os.WriteFile(data, secret, 0o600) }
	if err := f.once("seal-cold", m, write); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if err := f.timed("seal", dur, m, write); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if err := f.timed("unseal", dur, m, func() error { return unsealFile(data, secret) }); err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	return nil
}

// benchSecret is what the benchmark seals.
func benchSecret() []byte { return bytes.Repeat([]byte{'s'}, secretSize) }

// unsealFile reads a sealed object's data, as cat does, and checks it.
func unsealFile(data string, secret []byte) error {
	got, err := os.ReadFile(data)
	if err == nil && !bytes.Equal(got, secret) {
		err = fmt.Errorf("%s: unsealed %d bytes that differ from the %d sealed", data, len(got), len(secret))
	}
	return err
}
