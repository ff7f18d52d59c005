package tddl

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// seedFile holds the simulator's seed as 16 hex digits and a newline.
const seedFile = "seed"

// loadSeed reads dir/seed, or creates dir (0700) and a fresh random seed
// (0600) when it is absent.
func loadSeed(dir string) (int64, error) {
	path := filepath.Join(dir, seedFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createSeed(dir, path)
	}
	if err != nil {
		return 0, fmt.Errorf("read sim seed: %w", err)
	}
	return parseSeed(path, b)
}

func parseSeed(path string, b []byte) (int64, error) {
	s := strings.TrimSuffix(string(b), "\n")
	bad := fmt.Errorf("sim seed %s is malformed (want 16 hex digits); remove it to start a new simulated TPM", path)
	if len(s) != 16 {
		return 0, bad
	}
	u, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, bad
	}
	return int64(u), nil
}

// createSeed writes the seed to a temporary file and links it into place,
// so that a crash never leaves half a seed and two racing openers agree on
// the one that landed first.
func createSeed(dir, path string) (int64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("create sim state dir: %w", err)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return 0, fmt.Errorf("generate sim seed: %w", err)
	}
	u := binary.BigEndian.Uint64(raw[:])
	tmp, err := os.CreateTemp(dir, ".seed-*")
	if err != nil {
		return 0, fmt.Errorf("create sim seed: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "%016x\n", u)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write sim seed: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return loadSeed(dir)
		}
		return 0, fmt.Errorf("create sim seed: %w", err)
	}
	return int64(u), nil
}
