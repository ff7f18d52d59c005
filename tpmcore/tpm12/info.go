package tpm12

import (
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
)

// Family names the TPM family this package drives, as info shows it.
const Family = "1.2"

// TPM_GetCapability areas and sub-capabilities (TPM Main Part 2,
// section 21).
const (
	capVersion      uint32 = 0x06
	capProperty     uint32 = 0x05
	capHandle       uint32 = 0x14
	capVersionVal   uint32 = 0x1A
	propPCR         uint32 = 0x101
	propManufacture uint32 = 0x103
	propOwner       uint32 = 0x111
)

// Info describes a TPM 1.2.
type Info struct {
	// Manufacturer is the TCG vendor ID as text ("IBM", "IFX", "STM ",
	// trimmed), and ManufacturerID the same four bytes as a number.
	Manufacturer   string
	ManufacturerID uint32
	// ChipVersion is TPM_CAP_VERSION_INFO's version as TrouSerS'
	// tpm_version prints it: major.minor.revMajor.revMinor, the last two
	// being the vendor's firmware revision.
	ChipVersion string
	SpecLevel   uint16
	ErrataRev   uint8
	// VendorSpecific is the vendor's opaque data, often empty.
	VendorSpecific []byte
	// Owned: the TPM has an owner, hence an SRK to seal under.
	Owned bool
	// Disabled, Deactivated: permanent flags that stop most commands.
	Disabled, Deactivated bool
	// NumPCRs is how many PCRs the TPM has (24 on a PC client).
	NumPCRs int
}

// GetInfo asks the TPM what it is.
func GetInfo(t transport.TPM) (Info, error) {
	var info Info
	b, err := getCap(t, capProperty, propManufacture)
	if err != nil {
		return info, err
	}
	if len(b) != 4 {
		return info, fmt.Errorf("TPM manufacturer: %d bytes, want 4", len(b))
	}
	info.ManufacturerID = binary.BigEndian.Uint32(b)
	info.Manufacturer = tpmwire.VendorText(b)

	if b, err = getCap(t, capVersionVal, 0); err == nil {
		v, err := parseVersionInfo(b)
		if err != nil {
			return info, fmt.Errorf("TPM version: %w", err)
		}
		info.ChipVersion = fmt.Sprintf("%d.%d.%d.%d", v.major, v.minor, v.revMajor, v.revMinor)
		info.SpecLevel, info.ErrataRev, info.VendorSpecific = v.specLevel, v.errataRev, v.vendorSpecific
	} else {
		// A TPM 1.1b knows only TPM_CAP_VERSION, a bare TPM_VERSION.
		b, err2 := getCap(t, capVersion, 0)
		if err2 != nil {
			return info, err
		}
		if len(b) != 4 {
			return info, fmt.Errorf("TPM version: %d bytes, want 4", len(b))
		}
		info.ChipVersion = fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}

	if info.Owned, err = Owned(t); err != nil {
		return info, err
	}
	if info.NumPCRs, err = NumPCRs(t); err != nil {
		return info, err
	}
	c := newConn(t)
	flags, err := tpm.GetPermanentFlags(c)
	if err != nil {
		return info, c.fail("TPM permanent flags", err)
	}
	info.Disabled, info.Deactivated = flags.Disable, flags.Deactivated
	return info, nil
}

// Owned reports whether the TPM has an owner (TPM_CAP_PROP_OWNER).
func Owned(t transport.TPM) (bool, error) {
	b, err := getCap(t, capProperty, propOwner)
	if err != nil {
		return false, err
	}
	if len(b) != 1 {
		return false, fmt.Errorf("TPM owner property: %d bytes, want 1", len(b))
	}
	return b[0] != 0, nil
}

// NumPCRs returns how many PCRs the TPM has (TPM_CAP_PROP_PCR).
func NumPCRs(t transport.TPM) (int, error) {
	b, err := getCap(t, capProperty, propPCR)
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("TPM PCR count: %d bytes, want 4", len(b))
	}
	return int(binary.BigEndian.Uint32(b)), nil
}

// getCap runs TPM_GetCapability(area, sub).
func getCap(t transport.TPM, area, sub uint32) ([]byte, error) {
	c := newConn(t)
	b, err := tpm.GetCapabilityRaw(c, area, sub)
	if err != nil {
		return nil, c.fail(fmt.Sprintf("get capability %#x/%#x", area, sub), err)
	}
	return b, nil
}
