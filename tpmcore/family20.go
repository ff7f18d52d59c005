package tpmcore

import (
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
	"tpmfs/tpmcore/cmdpolicy"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/rm"
	"tpmfs/tpmcore/sealing"
)

// family20 is the TPM 2.0 family: PCR reads batched and on fast paths
// (pcr20.go, pcrbatch.go), sealing by package sealing's Keeper, and raw
// clients in resource manager spaces.
type family20 struct {
	c *Core
	// maxRandom is the most bytes one GetRandom returns (TPM_PT_MAX_DIGEST).
	maxRandom int
	pcrs      *pcrBatcher

	// Job-owned: used only in queue jobs (srk20.go).
	keeper       *sealing.Keeper
	own          *rm.Space // the internal space of the keeper's key and session
	clock        tpmClock  // the TPM's reset and restart counts, last seen
	inManager    bool      // a call of the resource manager is under way
	resetPending bool      // a reset to tell the manager at its next call

	rmMu sync.Mutex
	// rm is the resource manager for raw clients and tpmcore's own keys,
	// made on first use, in a job; read outside jobs under rmMu.
	rm *rm.Manager
}

func newFamily20(c *Core) *family20 {
	f := &family20{c: c, keeper: sealing.NewKeeper(c.opts.OwnerAuth)}
	f.pcrs = newPCRBatcher(c)
	return f
}

// start starts the TPM if nobody has, flushes what an earlier run left
// and reads the TPM's identity. From now on the queue starts a TPM that
// lost its Startup (and notices a TPM that was reset, srk20.go), and
// flushes what a failed job left, sparing what the resource manager
// keeps loaded on purpose.
func (f *family20) start(t transport.TPM) (identity, error) {
	f.c.q.onReopen = func(t transport.TPM) error {
		f.restarted(t)
		return nil
	}
	f.c.q.onLeftovers = f.leftovers
	startup(t)
	f.clock, _ = readClock(t)
	if err := flushLeftovers(t, nil); err != nil {
		f.c.log.WithError(err).Warn("could not flush objects an earlier run left in the TPM")
	}
	return f.probe(t)
}

// startup sends TPM2_Startup(CLEAR) and reports whether it started the
// TPM; a TPM already started answers TPM_RC_INITIALIZE, which is what we
// expect from a kernel-managed TPM.
func startup(t transport.TPM) bool {
	_, err := tpm2.Startup{StartupType: tpm2.TPMSUClear}.Execute(t)
	return err == nil
}

// probe reads the fixed properties, the active banks and which PCRs
// locality 0 may extend.
func (f *family20) probe(t transport.TPM) (identity, error) {
	var id identity
	props, err := fixedProperties(t)
	if err != nil {
		return id, err
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
	id.info = Info{
		Family:       "2.0",
		Manufacturer: str(tpm2.TPMPTManufacturer),
		Vendor:       str(tpm2.TPMPTVendorString1, tpm2.TPMPTVendorString2, tpm2.TPMPTVendorString3, tpm2.TPMPTVendorString4),
		Firmware:     fmt.Sprintf("%d.%d.%d.%d", fw1>>16, fw1&0xffff, fw2>>16, fw2&0xffff),
		Revision:     fmt.Sprintf("%d.%02d", rev/100, rev%100),
		Source:       f.c.opts.Source,
	}
	f.maxRandom = int(props[tpm2.TPMPTMaxDigest])
	if f.maxRandom <= 0 {
		f.maxRandom = 32
	}
	if id.banks, err = activeBanks(t); err != nil {
		return id, err
	}
	if len(id.banks) == 0 {
		return id, fmt.Errorf("%w: no active PCR bank", ErrUnsupported)
	}
	for _, b := range id.banks {
		id.info.Banks = append(id.info.Banks, b.Name)
	}
	if id.extendL0, err = readExtendL0(t); err != nil {
		return id, err
	}
	id.nvBuffer = int(props[tpm2.TPMPTNVBufferMax])
	if id.nvBuffer <= 0 {
		id.nvBuffer = minNVBuffer
	}
	if id.ekCerts, err = findEKCerts(t); err != nil {
		return id, err
	}
	for _, e := range id.ekCerts {
		id.info.EKCerts = append(id.info.EKCerts, fmt.Sprintf("0x%08x", e.Index))
	}
	return id, nil
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

func readExtendL0(t transport.TPM) (l0 [maxPCRs]bool, err error) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapPCRProperties,
		Property:      uint32(tpm2.TPMPTPCRExtendL0),
		PropertyCount: 1,
	}.Execute(t)
	if err != nil {
		return l0, fmt.Errorf("get PCR properties: %w", err)
	}
	list, err := rsp.CapabilityData.Data.PCRProperties()
	if err != nil {
		return l0, fmt.Errorf("get PCR properties: %w", err)
	}
	for _, p := range list.PCRProperty {
		if p.Tag != tpm2.TPMPTPCRExtendL0 {
			continue
		}
		for i := 0; i < maxPCRs; i++ {
			l0[i] = bitSet(p.PCRSelect, i)
		}
	}
	return l0, nil
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

func (f *family20) pcrReadCode() uint32 { return uint32(tpm2.TPMCCPCRRead) }

func (f *family20) commandName(code uint32) string { return cmdpolicy.Name(code) }

// rawUsage reports the resource manager's spaces, if raw clients ever
// started it.
func (f *family20) rawUsage() []RawUsage {
	f.rmMu.Lock()
	m := f.rm
	f.rmMu.Unlock()
	if m == nil {
		return nil
	}
	var out []RawUsage
	for _, u := range m.Usage() {
		out = append(out, RawUsage{UID: u.UID, Opens: u.Opens, Objects: u.Objects, Sessions: u.Sessions})
	}
	return out
}
