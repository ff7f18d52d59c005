package cmdpolicy

import (
	"errors"
	"fmt"
)

// Level is how much a caller without admin rights may do (rm_policy=).
type Level int

// The levels, from least to most restricted. The zero Level is Open.
const (
	// Open refuses nothing: today's /dev/tpmrm0.
	Open Level = iota
	// Standard refuses what could change or deny the TPM for others.
	Standard
	// Strict also refuses NV writes, NV locks and self tests.
	Strict
)

// Levels lists the level names as rm_policy= takes them, in Level order.
var Levels = []string{"open", "standard", "strict"}

// ErrLevel: a name that is not one of Levels.
var ErrLevel = errors.New("unknown rm_policy level (want strict, standard or open)")

// ParseLevel returns the level named s.
func ParseLevel(s string) (Level, error) {
	for i, name := range Levels {
		if s == name {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("%q: %w", s, ErrLevel)
}

func (l Level) String() string {
	if l >= 0 && int(l) < len(Levels) {
		return Levels[l]
	}
	return fmt.Sprintf("Level(%d)", int(l))
}
