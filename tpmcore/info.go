package tpmcore

import (
	"fmt"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
	"tpmfs/tpmcore/pcrsel"
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

// probe reads the fixed properties, the active banks and which PCRs
// locality 0 may extend.
func (c *Core) probe(t transport.TPM) error {
	props, err := fixedProperties(t)
	if err != nil {
		return err
	}
	// Each property holds four characters, NUL-padded.
	str := func(pts ...tpm2.TPMPT) string {
		var buf []byte
		for _, pt := range pts {
			v := props[pt]
			for _, c := range []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} {
				if c != 0 {
					buf = append(buf, c)
				}
			}
		}
		return tpmwire.VendorText(buf)
	}
	fw1, fw2 := props[tpm2.TPMPTFirmwareVersion1], props[tpm2.TPMPTFirmwareVersion2]
	rev := props[tpm2.TPMPTRevision]
	c.info = Info{
		Family:       "2.0",
		Manufacturer: str(tpm2.TPMPTManufacturer),
		Vendor:       str(tpm2.TPMPTVendorString1, tpm2.TPMPTVendorString2, tpm2.TPMPTVendorString3, tpm2.TPMPTVendorString4),
		Firmware:     fmt.Sprintf("%d.%d.%d.%d", fw1>>16, fw1&0xffff, fw2>>16, fw2&0xffff),
		Revision:     fmt.Sprintf("%d.%02d", rev/100, rev%100),
		Source:       c.opts.Source,
	}
	c.maxRandom = int(props[tpm2.TPMPTMaxDigest])
	if c.maxRandom <= 0 {
		c.maxRandom = 32
	}
	if c.banks, err = activeBanks(t); err != nil {
		return err
	}
	if len(c.banks) == 0 {
		return fmt.Errorf("%w: no active PCR bank", ErrUnsupported)
	}
	for _, b := range c.banks {
		c.info.Banks = append(c.info.Banks, b.Name)
	}
	return c.readExtendL0(t)
}

func fixedProperties(t transport.TPM) (map[tpm2.TPMPT]uint32, error) {
	props := map[tpm2.TPMPT]uint32{}
	next := uint32(tpm2.TPMPTFamilyIndicator)
	for {
		rsp, err := tpm2.GetCapability{
			Capability:    tpm2.TPMCapTPMProperties,
			Property:      next,
			PropertyCount: 64,
		}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("get fixed properties: %w", err)
		}
		list, err := rsp.CapabilityData.Data.TPMProperties()
		if err != nil {
			return nil, fmt.Errorf("get fixed properties: %w", err)
		}
		for _, p := range list.TPMProperty {
			props[p.Property] = p.Value
			next = uint32(p.Property) + 1
		}
		// Fixed properties end before the variable group (PT_VAR, 0x200).
		if !bool(rsp.MoreData) || len(list.TPMProperty) == 0 || next >= 0x200 {
			return props, nil
		}
	}
}

func activeBanks(t transport.TPM) ([]Bank, error) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapPCRs, PropertyCount: 1}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("get PCR banks: %w", err)
	}
	sels, err := rsp.CapabilityData.Data.AssignedPCR()
	if err != nil {
		return nil, fmt.Errorf("get PCR banks: %w", err)
	}
	var banks []Bank
	for _, s := range sels.PCRSelections {
		if !anyBit(s.PCRSelect) {
			continue // allocated but inactive
		}
		b, ok := pcrsel.BankByAlg(s.Hash)
		if !ok {
			continue // an algorithm tpmfs does not know: not shown
		}
		banks = append(banks, b)
	}
	return banks, nil
}

func (c *Core) readExtendL0(t transport.TPM) error {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapPCRProperties,
		Property:      uint32(tpm2.TPMPTPCRExtendL0),
		PropertyCount: 1,
	}.Execute(t)
	if err != nil {
		return fmt.Errorf("get PCR properties: %w", err)
	}
	list, err := rsp.CapabilityData.Data.PCRProperties()
	if err != nil {
		return fmt.Errorf("get PCR properties: %w", err)
	}
	for _, p := range list.PCRProperty {
		if p.Tag != tpm2.TPMPTPCRExtendL0 {
			continue
		}
		for i := 0; i < maxPCRs; i++ {
			c.extendL0[i] = bitSet(p.PCRSelect, i)
		}
	}
	return nil
}

func anyBit(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return true
		}
	}
	return false
}

func bitSet(b []byte, i int) bool { return i/8 < len(b) && b[i/8]&(1<<(i%8)) != 0 }
