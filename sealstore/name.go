package sealstore

import "fmt"

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
