package mountopts

import (
	"fmt"
	"strconv"
	"strings"
)

// SealQuota is seal_quota=: how many sealed objects (and attestation
// keys) a non-root user may keep, and how many bytes of secrets.
type SealQuota struct {
	Objects int
	Bytes   int64
}

// DefaultSealQuota is seal_quota='s default, 64:16M.
var DefaultSealQuota = SealQuota{Objects: 64, Bytes: 16 << 20}

// parseSealQuota reads OBJECTS:BYTES, BYTES with an optional K, M or G
// suffix (powers of 1024), or "none" (nil: no quota).
func parseSealQuota(val string) (*SealQuota, error) {
	if val == "none" {
		return nil, nil
	}
	objs, bytes, ok := strings.Cut(val, ":")
	if !ok || !isDigits(objs) {
		return nil, ErrInvalidSealQuota
	}
	n, err := strconv.ParseInt(objs, 10, 32)
	if err != nil {
		return nil, ErrInvalidSealQuota
	}
	size, err := parseSize(bytes)
	if err != nil {
		return nil, err
	}
	return &SealQuota{Objects: int(n), Bytes: size}, nil
}

// parseSize reads a byte count with an optional K, M or G suffix.
func parseSize(s string) (int64, error) {
	shift := 0
	switch {
	case strings.HasSuffix(s, "K"):
		shift = 10
	case strings.HasSuffix(s, "M"):
		shift = 20
	case strings.HasSuffix(s, "G"):
		shift = 30
	}
	if shift > 0 {
		s = s[:len(s)-1]
	}
	if !isDigits(s) {
		return 0, ErrInvalidSealQuota
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%w: too large", ErrInvalidSealQuota)
	}
	return n << shift, nil
}
