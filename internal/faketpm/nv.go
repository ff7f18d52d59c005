package faketpm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tpmcore"
	"tpmfs/tpmcore/nv"
)

// fakeBuffer is the fake's NV buffer, small so that tests see chunks.
const fakeBuffer = 64

// fakeIndexMax is the largest index the fake defines.
const fakeIndexMax = 2048

// nvIndex is one fake NV index.
type nvIndex struct {
	pub      nv.Public
	data     []byte
	password bool // its auth value is not empty: index auth fails
}

// nvState is the fake's NV; TPM embeds it.
type nvState struct {
	nmu     sync.Mutex
	indices map[uint32]*nvIndex
	gen     uint64
	nvErr   error
	nvOps   int
}

// DefineNV defines an index of any type for a test; password makes its
// auth value something other than the empty one tpmfs uses. data, when
// not nil, is written.
func (t *TPM) DefineNV(index uint32, attrs tpm2.TPMANV, size int, password bool, data []byte) {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	t.defineLocked(index, attrs, size)
	x := t.indices[index]
	x.password = password
	if data != nil {
		copy(x.data, data)
		x.pub.Attributes.Written = true
	}
}

// FailNV makes every NV operation return err; nil clears it.
func (t *TPM) FailNV(err error) {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	t.nvErr = err
}

// NVOps counts the NV accesses that reached the fake's indices.
func (t *TPM) NVOps() int {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	return t.nvOps
}

func (t *TPM) defineLocked(index uint32, attrs tpm2.TPMANV, size int) {
	if t.indices == nil {
		t.indices = map[uint32]*nvIndex{}
	}
	t.gen++
	name := sha256.Sum256(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, index), t.gen))
	t.indices[index] = &nvIndex{
		pub:  nv.Public{Index: index, NameAlg: tpm2.TPMAlgSHA256, Attributes: attrs, Size: size, Name: tpm2.TPM2BName{Buffer: name[:]}},
		data: bytes.Repeat([]byte{0xff}, size),
	}
}

func (t *TPM) NVBuffer() int { return fakeBuffer }

func (t *TPM) NVList(ctx context.Context) ([]uint32, error) {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	if t.nvErr != nil {
		return nil, t.nvErr
	}
	var out []uint32
	for i := range t.indices {
		out = append(out, i)
	}
	slices.Sort(out)
	return out, nil
}

func (t *TPM) NVPublic(ctx context.Context, index uint32) (tpmcore.NVPublic, error) {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	if t.nvErr != nil {
		return nv.Public{}, t.nvErr
	}
	x := t.indices[index]
	if x == nil {
		return nv.Public{}, fmt.Errorf("NV 0x%08x: %w", index, tpmcore.ErrNotFound)
	}
	return x.pub, nil
}

// access runs op on the index want describes, as tpmcore does: stale
// if it changed, refused without a way to authorise, or with index auth
// when its auth value is not empty.
func (t *TPM) access(want nv.Public, auth func(nv.Public) nv.Auth, op func(x *nvIndex) error) error {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	if t.nvErr != nil {
		return t.nvErr
	}
	x := t.indices[want.Index]
	if x == nil || !want.Same(x.pub) {
		return fmt.Errorf("NV 0x%08x: %w", want.Index, tpmcore.ErrStale)
	}
	switch a := auth(x.pub); {
	case a == nv.NoAuth:
		return fmt.Errorf("NV 0x%08x: %w", want.Index, tpmcore.ErrNotAllowed)
	case a == nv.Index && x.password:
		return fmt.Errorf("NV 0x%08x: %w", want.Index, tpmcore.ErrAuth)
	}
	t.nvOps++
	return op(x)
}

func (t *TPM) NVRead(ctx context.Context, want tpmcore.NVPublic, asOwner bool) ([]byte, error) {
	var out []byte
	err := t.access(want, func(p nv.Public) nv.Auth { return p.ReadAuth(asOwner) }, func(x *nvIndex) error {
		if !x.pub.Written() {
			return fmt.Errorf("NV 0x%08x: %w", want.Index, tpmcore.ErrNoData)
		}
		out = bytes.Clone(x.data)
		return nil
	})
	return out, err
}

func writeAuth(asOwner bool) func(nv.Public) nv.Auth {
	return func(p nv.Public) nv.Auth { return p.WriteAuth(asOwner) }
}

func (t *TPM) NVWrite(ctx context.Context, want tpmcore.NVPublic, asOwner bool, off int, data []byte) error {
	return t.access(want, writeAuth(asOwner), func(x *nvIndex) error {
		if x.pub.Type() != tpm2.TPMNTOrdinary {
			return fmt.Errorf("%w: not ordinary", tpmcore.ErrInvalid)
		}
		if off < 0 || off+len(data) > len(x.data) {
			return fmt.Errorf("%w: beyond the index", tpmcore.ErrTooLarge)
		}
		copy(x.data[off:], data)
		x.pub.Attributes.Written = true
		return nil
	})
}

func (t *TPM) NVIncrement(ctx context.Context, want tpmcore.NVPublic, asOwner bool) error {
	return t.access(want, writeAuth(asOwner), func(x *nvIndex) error {
		if x.pub.Type() != tpm2.TPMNTCounter {
			return fmt.Errorf("%w: not a counter", tpmcore.ErrInvalid)
		}
		v := uint64(0)
		if x.pub.Written() {
			v = binary.BigEndian.Uint64(x.data)
		}
		binary.BigEndian.PutUint64(x.data, v+1)
		x.pub.Attributes.Written = true
		return nil
	})
}

func (t *TPM) NVExtend(ctx context.Context, want tpmcore.NVPublic, asOwner bool, data []byte) error {
	return t.access(want, writeAuth(asOwner), func(x *nvIndex) error {
		if x.pub.Type() != tpm2.TPMNTExtend {
			return fmt.Errorf("%w: not an extend index", tpmcore.ErrInvalid)
		}
		if len(data) > fakeBuffer {
			return fmt.Errorf("%w: more than a buffer", tpmcore.ErrTooLarge)
		}
		if !x.pub.Written() {
			clear(x.data)
		}
		h := sha256.New()
		h.Write(x.data)
		h.Write(data)
		x.data = h.Sum(nil)
		x.pub.Attributes.Written = true
		return nil
	})
}

func (t *TPM) NVSetBits(ctx context.Context, want tpmcore.NVPublic, asOwner bool, bits uint64) error {
	return t.access(want, writeAuth(asOwner), func(x *nvIndex) error {
		if x.pub.Type() != tpm2.TPMNTBits {
			return fmt.Errorf("%w: not a bit field", tpmcore.ErrInvalid)
		}
		v := uint64(0)
		if x.pub.Written() {
			v = binary.BigEndian.Uint64(x.data)
		}
		binary.BigEndian.PutUint64(x.data, v|bits)
		x.pub.Attributes.Written = true
		return nil
	})
}

func (t *TPM) NVDefine(ctx context.Context, index uint32, size int) error {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	switch {
	case t.nvErr != nil:
		return t.nvErr
	case index < nv.DefineFirst || index > nv.DefineLast:
		return fmt.Errorf("%w: 0x%08x outside the owner's range", tpmcore.ErrInvalid, index)
	case t.indices[index] != nil:
		return fmt.Errorf("NV 0x%08x: %w", index, tpmcore.ErrExists)
	case size <= 0 || size > fakeIndexMax:
		return fmt.Errorf("NV 0x%08x: %w: %d bytes", index, tpmcore.ErrTooLarge, size)
	}
	t.defineLocked(index, nv.DefinedAttributes, size)
	return nil
}

func (t *TPM) NVUndefine(ctx context.Context, want tpmcore.NVPublic) error {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	if t.nvErr != nil {
		return t.nvErr
	}
	x := t.indices[want.Index]
	switch {
	case x == nil || !want.Same(x.pub):
		return fmt.Errorf("NV 0x%08x: %w", want.Index, tpmcore.ErrStale)
	case !x.pub.Undefinable():
		return fmt.Errorf("NV 0x%08x: %w", want.Index, tpmcore.ErrNotAllowed)
	}
	delete(t.indices, want.Index)
	return nil
}
