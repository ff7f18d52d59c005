package fs

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// digestSpace is what may surround a digest written by echo or printf.
const digestSpace = " \t\r\n"

// parseDigest parses one hex digest of size bytes: either case, an
// optional 0x, surrounding whitespace ignored. Anything else is an error.
func parseDigest(s string, size int) ([]byte, error) {
	t := strings.Trim(s, digestSpace)
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		t = t[2:]
	}
	if len(t) != 2*size {
		return nil, fmt.Errorf("%w: want %d hex digits, got %d", errInvalid, 2*size, len(t))
	}
	d, err := hex.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("%w: not hex: %q", errInvalid, clip(t))
	}
	return d, nil
}

// digestPrefix reports whether s can still become a valid digest of size
// bytes by appending more, so that a bad write fails at write(2) time and
// not only at close, where shells ignore errors.
func digestPrefix(s string, size int) error {
	t := strings.TrimLeft(s, digestSpace)
	switch {
	case t == "0":
		return nil
	case strings.HasPrefix(t, "0x"), strings.HasPrefix(t, "0X"):
		t = t[2:]
	}
	body := strings.TrimRight(t, digestSpace)
	trailing := len(body) < len(t)
	if len(body) > 2*size {
		return fmt.Errorf("%w: more than %d hex digits", errInvalid, 2*size)
	}
	for i := 0; i < len(body); i++ {
		if !isHex(body[i]) {
			return fmt.Errorf("%w: not hex: %q", errInvalid, clip(body))
		}
	}
	if trailing && len(body) != 2*size {
		return fmt.Errorf("%w: want %d hex digits, got %d", errInvalid, 2*size, len(body))
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// clip keeps log and error lines short when a writer sends garbage.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
