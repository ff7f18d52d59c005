package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// mountFigures are the same operations through the mount's files.
type mountFigures struct {
	pread, cat   latency
	random       float64 // bytes per second, 64 KiB reads
	concurrent   float64 // PCR reads per second, one reader per PCR
	extend       latency
	seal, unseal latency
	ready        time.Duration
	peakRSS      uint64 // bytes, VmHWM of the daemon after all of the above
}

// randomRead is the read size on the random file (head -c, dd bs=64k).
const randomRead = 64 << 10

// pcrText is the size of a sha256 PCR file: 64 hex digits and a newline.
const pcrText = 2*sha256.Size + 1

func pcrPath(d *daemon, i int) string { return d.path("pcrs", "sha256", fmt.Sprintf("%02d", i)) }

// runMount measures through the files of d's mount.
func runMount(d *daemon, dur time.Duration, readers int) (*mountFigures, error) {
	f := &mountFigures{ready: d.ready}
	var err error
	if f.pread, err = preadLatency(pcrPath(d, 0), dur); err != nil {
		return nil, err
	}
	f.cat, err = sampleLatency(dur, func() error { return catPCR(pcrPath(d, 0)) })
	if err != nil {
		return nil, err
	}
	if f.random, err = randomRate(d.path("random"), dur); err != nil {
		return nil, err
	}
	if f.concurrent, err = concurrentRate(d, dur, readers); err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte("tpmfs-bench"))
	line := []byte(hex.EncodeToString(digest[:]) + "\n")
	f.extend, err = sampleLatency(dur, func() error {
		// As `echo DIGEST > pcrs/sha256/16`: open with O_TRUNC, write, close.
		return os.WriteFile(pcrPath(d, extendPCR), line, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("extend: %w", err)
	}
	if err := mountSeal(d, dur, f); err != nil {
		return nil, err
	}
	if f.peakRSS, err = d.peakRSS(); err != nil {
		return nil, fmt.Errorf("daemon peak RSS: %w", err)
	}
	return f, nil
}

// preadLatency times pread at offset 0 on one open PCR file: each asks
// the TPM (direct I/O), with no open or close around it.
func preadLatency(path string, dur time.Duration) (latency, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
	if err != nil {
		return latency{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, 256)
	return sampleLatency(dur, func() error { return preadPCR(fd, buf, path) })
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

func randomRate(path string, dur time.Duration) (float64, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	buf := make([]byte, randomRead)
	return sampleRate(dur, 1, func(int) (int, error) {
		n, err := r.Read(buf)
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	})
}

// concurrentRate runs one reader per PCR (0…readers-1), each with its own
// open file, all at once.
func concurrentRate(d *daemon, dur time.Duration, readers int) (float64, error) {
	fds := make([]int, readers)
	for i := range fds {
		fd, err := syscall.Open(pcrPath(d, i), syscall.O_RDONLY, 0)
		if err != nil {
			return 0, fmt.Errorf("open %s: %w", pcrPath(d, i), err)
		}
		defer syscall.Close(fd)
		fds[i] = fd
	}
	bufs := make([][]byte, readers)
	for i := range bufs {
		bufs[i] = make([]byte, 256)
	}
	return sampleRate(dur, readers, func(w int) (int, error) {
		return 1, preadPCR(fds[w], bufs[w], pcrPath(d, w))
	})
}

// mountSeal times `echo SECRET > seal/bench/data` (sealed on close) and
// `cat seal/bench/data` (unsealed), checking the secret comes back.
func mountSeal(d *daemon, dur time.Duration, f *mountFigures) error {
	dir := d.path("seal", "bench")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	data := d.path("seal", "bench", "data")
	secret := bytes.Repeat([]byte{'s'}, secretSize)
	var err error
	f.seal, err = sampleLatency(dur, func() error { return os.WriteFile(data, secret, 0o600) })
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	f.unseal, err = sampleLatency(dur, func() error {
		got, err := os.ReadFile(data)
		if err == nil && !bytes.Equal(got, secret) {
			err = fmt.Errorf("%s: unsealed %d bytes that differ from the %d sealed", data, len(got), len(secret))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	return nil
}
