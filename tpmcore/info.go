package tpmcore

import (
	"fmt"
	"strings"
)

// Info is the TPM's identity as shown in the info file.
type Info struct {
	Family       string // "2.0"
	Manufacturer string // vendor ID, e.g. "IBM", "INTC"
	Vendor       string // vendor strings joined
	Firmware     string // "major.minor.x.y"
	Revision     string // spec revision, e.g. "1.59"
	Banks        []string
	Source       string
}

// String renders "key: value" lines.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "family: %s\n", i.Family)
	fmt.Fprintf(&b, "manufacturer: %s\n", i.Manufacturer)
	fmt.Fprintf(&b, "vendor: %s\n", i.Vendor)
	fmt.Fprintf(&b, "firmware: %s\n", i.Firmware)
	fmt.Fprintf(&b, "revision: %s\n", i.Revision)
	fmt.Fprintf(&b, "banks: %s\n", strings.Join(i.Banks, " "))
	fmt.Fprintf(&b, "source: %s\n", i.Source)
	return b.String()
}
