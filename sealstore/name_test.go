package sealstore

import (
	"errors"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	good := []string{"a", "A", "0", "disk-key", "x.y_z-1", "a..b", "a.", strings.Repeat("n", 64), "-rf"}
	bad := []string{"", ".", "..", ".hidden", strings.Repeat("n", 65), "a/b", "/a", "a b", "ä", "a\x00", "a\n", "a:b", "a*"}
	for _, n := range good {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}
