package tpmwire

import (
	"fmt"
	"strings"
)

// VendorText renders vendor bytes (a manufacturer ID, vendor strings,
// TPM 1.2's vendor-specific data): printable ASCII padded with NULs or
// spaces is shown trimmed, anything else as hex, so that one "key: value"
// line stays one line.
func VendorText(b []byte) string {
	s := strings.Trim(string(b), "\x00 ")
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return fmt.Sprintf("%x", b)
		}
	}
	return s
}
