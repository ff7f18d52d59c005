package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/tpmwire"
	"tpmfs/tpmcore/pcrsel"
)

// The TCG PC Client binary log (TCG PC Client Platform Firmware Profile,
// section 10), little-endian throughout:
//
//	SHA-1 form (TPM 1.2), and the first event of the crypto-agile form:
//	  u32 pcrIndex, u32 eventType, [20]byte digest, u32 size, event
//	crypto-agile form, after a first event holding "Spec ID Event03":
//	  u32 pcrIndex, u32 eventType, u32 count, count × (u16 alg, digest),
//	  u32 size, event
//
// where each digest's size comes from the Spec ID event's algorithm list.

// Event types replay needs to know.
const (
	// EvNoAction events are not extended (the Spec ID event, the
	// StartupLocality event).
	EvNoAction uint32 = 3
)

const (
	specID03        = "Spec ID Event03\x00"
	startupLocality = "StartupLocality\x00"
	// maxAlgs bounds the Spec ID event's algorithm list.
	maxAlgs = 16
)

// FirmwareEvent is one event of a binary log.
type FirmwareEvent struct {
	PCR  int
	Type uint32
	// Digests in the log's order; an algorithm tpmfs does not know is
	// named "0xALG".
	Digests []Digest
	Data    []byte
}

// Firmware is a parsed binary log.
type Firmware struct {
	// CryptoAgile: the TPM 2.0 form; else the SHA-1 form of TPM 1.2.
	CryptoAgile bool
	// Events after the Spec ID event (crypto-agile) or all of them.
	Events []FirmwareEvent
	// Locality is the locality the TPM was started from, from a
	// StartupLocality event (0 without one): PCR 0's reset value.
	Locality byte
}

// ParseFirmware parses a binary log of either form. The log ends at its
// last byte, or at an event with type 0 and no data (the zeroed rest of
// a firmware's log area).
func ParseFirmware(b []byte) (*Firmware, error) {
	r := tpmwire.NewReader(b)
	first, err := sha1Event(&r)
	if err != nil {
		return nil, fmt.Errorf("%w: firmware event 0: %w", ErrInvalid, err)
	}
	fw := &Firmware{}
	var algs []algSize
	if first.Type == EvNoAction && first.PCR == 0 && bytes.HasPrefix(first.Data, []byte(specID03)) {
		fw.CryptoAgile = true
		if algs, err = parseSpecID(first.Data); err != nil {
			return nil, fmt.Errorf("%w: firmware event 0: %w", ErrInvalid, err)
		}
	} else {
		fw.add(first)
	}
	for n := 1; r.Len() > 0; n++ {
		var ev FirmwareEvent
		if fw.CryptoAgile {
			ev, err = agileEvent(&r, algs)
		} else {
			ev, err = sha1Event(&r)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: firmware event %d: %w", ErrInvalid, n, err)
		}
		if ev.Type == 0 && len(ev.Data) == 0 {
			break
		}
		fw.add(ev)
	}
	return fw, nil
}

func (fw *Firmware) add(ev FirmwareEvent) {
	if ev.Type == EvNoAction && ev.PCR == 0 && len(ev.Data) == len(startupLocality)+1 &&
		bytes.HasPrefix(ev.Data, []byte(startupLocality)) {
		fw.Locality = ev.Data[len(startupLocality)]
	}
	fw.Events = append(fw.Events, ev)
}

type algSize struct {
	alg  uint16
	size int
}

// parseSpecID reads the algorithm list of a TCG_EfiSpecIDEvent.
func parseSpecID(data []byte) ([]algSize, error) {
	r := tpmwire.NewReader(data[len(specID03):])
	le32(&r)  // platformClass
	r.Take(4) // version minor, major, errata, uintnSize
	n := le32(&r)
	if r.Err() == nil && (n == 0 || n > maxAlgs) {
		return nil, fmt.Errorf("Spec ID event with %d algorithms", n)
	}
	var algs []algSize
	for range n {
		a := algSize{alg: le16(&r), size: int(le16(&r))}
		if r.Err() != nil {
			break
		}
		if a.size == 0 || a.size > 64 {
			return nil, fmt.Errorf("Spec ID event: digest size %d for algorithm %#04x", a.size, a.alg)
		}
		if b, ok := pcrsel.BankByAlg(tpm2.TPMAlgID(a.alg)); ok && b.Size != a.size {
			return nil, fmt.Errorf("Spec ID event: %s digests of %d bytes", b.Name, a.size)
		}
		algs = append(algs, a)
	}
	r.Take(int(r.U8())) // vendorInfo
	if r.Err() != nil {
		return nil, fmt.Errorf("Spec ID event: %w", r.Err())
	}
	return algs, nil
}

func sha1Event(r *tpmwire.Reader) (FirmwareEvent, error) {
	ev := FirmwareEvent{PCR: int(le32(r)), Type: le32(r)}
	d := r.Take(20)
	ev.Data = r.Take(int(le32(r)))
	if r.Err() != nil {
		return ev, r.Err()
	}
	ev.Digests = []Digest{{Alg: pcrsel.SHA1.Name, Value: Hex(d)}}
	return ev, checkPCR(ev.PCR)
}

func agileEvent(r *tpmwire.Reader, algs []algSize) (FirmwareEvent, error) {
	ev := FirmwareEvent{PCR: int(le32(r)), Type: le32(r)}
	n := le32(r)
	if r.Err() == nil && n > uint32(len(algs)) {
		return ev, fmt.Errorf("%d digests, the log has %d algorithms", n, len(algs))
	}
	for range n {
		alg := le16(r)
		size := 0
		for _, a := range algs {
			if a.alg == alg {
				size = a.size
			}
		}
		if r.Err() == nil && size == 0 {
			return ev, fmt.Errorf("digest of algorithm %#04x, not in the Spec ID event", alg)
		}
		ev.Digests = append(ev.Digests, Digest{Alg: algName(alg), Value: Hex(r.Take(size))})
	}
	ev.Data = r.Take(int(le32(r)))
	if r.Err() != nil {
		return ev, r.Err()
	}
	return ev, checkPCR(ev.PCR)
}

func checkPCR(pcr int) error {
	if pcr < 0 || pcr >= NumPCRs {
		return fmt.Errorf("pcr %d out of range 0-%d", pcr, NumPCRs-1)
	}
	return nil
}

func algName(alg uint16) string {
	if b, ok := pcrsel.BankByAlg(tpm2.TPMAlgID(alg)); ok {
		return b.Name
	}
	return fmt.Sprintf("%#04x", alg)
}

// The log is little-endian (UEFI's byte order); tpmwire's reader takes
// the bytes, these read the numbers.

func le16(r *tpmwire.Reader) uint16 {
	if b := r.Take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func le32(r *tpmwire.Reader) uint32 {
	if b := r.Take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}
