package nv

import (
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Open reads index's public area and checks it is still the index want
// (when want is not nil): the start of every access to an index opened
// earlier, in the same exclusive use of the TPM as the access.
func Open(t transport.TPM, index uint32, want *Public) (Public, error) {
	p, err := ReadPublic(t, index)
	if err != nil {
		if want != nil {
			return Public{}, fmt.Errorf("0x%08x: %w: %w", index, ErrChanged, err)
		}
		return Public{}, err
	}
	if want != nil && !want.Same(p) {
		return Public{}, fmt.Errorf("0x%08x: %w", index, ErrChanged)
	}
	return p, nil
}

// Read returns all of p's data, read in chunks of at most chunk bytes.
// Counters, bit fields and extend indices are 8 bytes, 8 bytes and a
// digest.
func Read(t transport.TPM, p Public, a Auth, ownerAuth []byte, chunk int) ([]byte, error) {
	if !p.Written() {
		return nil, fmt.Errorf("read 0x%08x: %w", p.Index, ErrUnwritten)
	}
	auth, err := authHandle(p, a, ownerAuth)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	out := make([]byte, 0, p.Size)
	for len(out) < p.Size {
		n := min(p.Size-len(out), chunk)
		rsp, err := tpm2.NVRead{
			AuthHandle: auth,
			NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(p.Index), Name: p.Name},
			Size:       uint16(n),
			Offset:     uint16(len(out)),
		}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("NV_Read 0x%08x at %d: %w", p.Index, len(out), err)
		}
		if len(rsp.Data.Buffer) != n {
			return nil, fmt.Errorf("NV_Read 0x%08x at %d: %d bytes for %d asked", p.Index, len(out), len(rsp.Data.Buffer), n)
		}
		out = append(out, rsp.Data.Buffer...)
	}
	return out, nil
}

// Write writes data at off into an ordinary index, in chunks of at most
// chunk bytes.
func Write(t transport.TPM, p Public, a Auth, ownerAuth []byte, off int, data []byte, chunk int) error {
	if p.Type() != tpm2.TPMNTOrdinary {
		return fmt.Errorf("write 0x%08x: %w: not an ordinary index", p.Index, ErrType)
	}
	if off < 0 || off+len(data) > p.Size {
		return fmt.Errorf("write 0x%08x: %w: %d bytes at %d, the index holds %d", p.Index, ErrRange, len(data), off, p.Size)
	}
	for done := 0; done < len(data); {
		auth, err := authHandle(p, a, ownerAuth)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		n := min(len(data)-done, chunk)
		_, err = tpm2.NVWrite{
			AuthHandle: auth,
			NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(p.Index), Name: p.Name},
			Data:       tpm2.TPM2BMaxNVBuffer{Buffer: data[done : done+n]},
			Offset:     uint16(off + done),
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("NV_Write 0x%08x at %d: %w", p.Index, off+done, err)
		}
		done += n
		// The first write sets TPMA_NV_WRITTEN, which changes the
		// index's name: ask for it again before the next chunk.
		if done < len(data) && !p.Written() {
			if p, err = ReadPublic(t, p.Index); err != nil {
				return err
			}
		}
	}
	return nil
}

// Increment adds one to a counter index.
func Increment(t transport.TPM, p Public, a Auth, ownerAuth []byte) error {
	if p.Type() != tpm2.TPMNTCounter {
		return fmt.Errorf("increment 0x%08x: %w: not a counter", p.Index, ErrType)
	}
	auth, err := authHandle(p, a, ownerAuth)
	if err != nil {
		return fmt.Errorf("increment: %w", err)
	}
	_, err = tpm2.NVIncrement{
		AuthHandle: auth,
		NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(p.Index), Name: p.Name},
	}.Execute(t)
	if err != nil {
		return fmt.Errorf("NV_Increment 0x%08x: %w", p.Index, err)
	}
	return nil
}

// Extend extends an extend index with data (at most one NV buffer).
func Extend(t transport.TPM, p Public, a Auth, ownerAuth []byte, data []byte, chunk int) error {
	if p.Type() != tpm2.TPMNTExtend {
		return fmt.Errorf("extend 0x%08x: %w: not an extend index", p.Index, ErrType)
	}
	if len(data) > chunk {
		return fmt.Errorf("extend 0x%08x: %w: %d bytes, one extend takes at most %d", p.Index, ErrRange, len(data), chunk)
	}
	return passwordCommand(t, tpm2.TPMCCNVExtend, p, a, ownerAuth, tpm2.Marshal(tpm2.TPM2BMaxNVBuffer{Buffer: data}))
}

// SetBits ORs bits into a bit-field index.
func SetBits(t transport.TPM, p Public, a Auth, ownerAuth []byte, bits uint64) error {
	if p.Type() != tpm2.TPMNTBits {
		return fmt.Errorf("set bits 0x%08x: %w: not a bit field", p.Index, ErrType)
	}
	return passwordCommand(t, tpm2.TPMCCNVSetBits, p, a, ownerAuth, binary.BigEndian.AppendUint64(nil, bits))
}
