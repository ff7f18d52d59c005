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
	// EKCerts are the NV indices of the EK certificates the TPM holds
	// ("0x01c00002"); nil on a TPM 1.2, which has no such indices.
	EKCerts []string
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
	if i.Family == "2.0" {
		ek := "none"
		if len(i.EKCerts) > 0 {
			ek = strings.Join(i.EKCerts, " ")
		}
		fmt.Fprintf(&b, "ek_certs: %s\n", ek)
	}
	return b.String()
}
