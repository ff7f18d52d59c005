package sealstore

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest object name.
const MaxNameLen = 64

// ValidName reports whether name may name a sealed object: 1–64
// characters of [A-Za-z0-9._-], not starting with a dot. The error wraps
// ErrInvalidName.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d characters, at most %d", ErrInvalidName, len(name), MaxNameLen)
	}
	if name[0] == '.' {
		// Also rules out "." and "..", and keeps object files apart from
		// the store's own dot files (lock, temp files).
		return fmt.Errorf("%w: %q starts with a dot", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("%w: %q has character %q", ErrInvalidName, name, name[i])
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// AKPrefix starts the store name of an attestation key (ak/NAME in the
// mount): "ak@NAME". Attestation keys and sealed objects share the
// store (identity, locks, quotas) but not their names; no object name
// contains an "@", so the two never collide, and a tpmfs that knows no
// attestation keys never lists them.
const AKPrefix = "ak@"

// AKName is the store name of the attestation key name.
func AKName(name string) string { return AKPrefix + name }

// IsAKName reports whether a store name is an attestation key's.
func IsAKName(storeName string) bool { return strings.HasPrefix(storeName, AKPrefix) }

// validStoreName accepts the name of a sealed object or of an
// attestation key (AKPrefix and an object name).
func validStoreName(name string) error {
	if rest, ok := strings.CutPrefix(name, AKPrefix); ok {
		return ValidName(rest)
	}
	return ValidName(name)
}
