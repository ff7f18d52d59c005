package nv

import (
	"bytes"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// The NV index handles: 0x01xxxxxx (TPM_HT_NV_INDEX).
const (
	First uint32 = 0x01000000
	Last  uint32 = 0x01ffffff
)

// IsIndex reports whether h is an NV index handle.
func IsIndex(h uint32) bool { return First <= h && h <= Last }

// Public is an index's public area, as NV_ReadPublic reports it.
type Public struct {
	Index      uint32
	NameAlg    tpm2.TPMIAlgHash
	Attributes tpm2.TPMANV
	AuthPolicy []byte
	Size       int
	Name       tpm2.TPM2BName
}

// Type is the index's type (TPM_NT).
func (p Public) Type() tpm2.TPMNT { return p.Attributes.NT }

// Written reports whether the index holds data.
func (p Public) Written() bool { return p.Attributes.Written }

// Auth is a way to authorise an access.
type Auth int

const (
	// NoAuth: neither way tpmfs knows is allowed.
	NoAuth Auth = iota
	// Owner: the owner hierarchy's secret.
	Owner
	// Index: the index's own auth value, taken as empty.
	Index
)

func (a Auth) String() string { return [...]string{"none", "owner", "index"}[a] }

// ReadAuth is how a read is authorised: by owner when asOwner and the
// index allows it (never counted as a dictionary attack), else by the
// index's empty auth value if it allows that.
func (p Public) ReadAuth(asOwner bool) Auth {
	a := p.Attributes
	switch {
	case a.ReadLocked:
		return NoAuth
	case asOwner && a.OwnerRead:
		return Owner
	case a.AuthRead:
		return Index
	}
	return NoAuth
}

// PublicReadAuth is how tpmfs reads an index the platform provisioned
// for everyone (EK certificates, templates): by its empty auth value,
// which needs no secret of tpmfs's and never fails for a wrong srk_auth=,
// else by owner.
func (p Public) PublicReadAuth() Auth {
	if a := p.ReadAuth(false); a != NoAuth {
		return a
	}
	return p.ReadAuth(true)
}

// WriteAuth is ReadAuth for writes; a write-locked index and PIN
// indices take none.
func (p Public) WriteAuth(asOwner bool) Auth {
	a := p.Attributes
	switch {
	case a.WriteLocked, a.NT == tpm2.TPMNTPinFail, a.NT == tpm2.TPMNTPinPass:
		return NoAuth
	case asOwner && a.OwnerWrite:
		return Owner
	case a.AuthWrite:
		return Index
	}
	return NoAuth
}

// Same reports whether q is the index p was: same handle, type, size,
// name algorithm, policy and attributes but for those that reads, writes
// and locks change.
func (p Public) Same(q Public) bool {
	strip := func(a tpm2.TPMANV) tpm2.TPMANV {
		a.Written, a.WriteLocked, a.ReadLocked = false, false, false
		return a
	}
	return p.Index == q.Index && p.NameAlg == q.NameAlg && p.Size == q.Size &&
		strip(p.Attributes) == strip(q.Attributes) && bytes.Equal(p.AuthPolicy, q.AuthPolicy)
}

// ReadPublic reads index's public area. An index that is not defined is
// the TPM's TPM_RC_HANDLE.
func ReadPublic(t transport.TPM, index uint32) (Public, error) {
	if !IsIndex(index) {
		return Public{}, fmt.Errorf("0x%08x: %w", index, ErrNotIndex)
	}
	rsp, err := tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(index)}.Execute(t)
	if err != nil {
		return Public{}, fmt.Errorf("NV_ReadPublic 0x%08x: %w", index, err)
	}
	pub, err := rsp.NVPublic.Contents()
	if err != nil {
		return Public{}, fmt.Errorf("NV_ReadPublic 0x%08x: %w", index, err)
	}
	if uint32(pub.NVIndex) != index {
		return Public{}, fmt.Errorf("NV_ReadPublic 0x%08x: TPM answered for 0x%08x", index, uint32(pub.NVIndex))
	}
	return Public{
		Index: index, NameAlg: pub.NameAlg, Attributes: pub.Attributes,
		AuthPolicy: pub.AuthPolicy.Buffer, Size: int(pub.DataSize), Name: rsp.NVName,
	}, nil
}

// List returns the defined NV indices in the range [from, to], in
// order.
func List(t transport.TPM, from, to uint32) ([]uint32, error) {
	var out []uint32
	next := from
	for {
		rsp, err := tpm2.GetCapability{
			Capability: tpm2.TPMCapHandles, Property: next, PropertyCount: 64,
		}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("list NV indices: %w", err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return nil, fmt.Errorf("list NV indices: %w", err)
		}
		for _, h := range hs.Handle {
			if uint32(h) < next || uint32(h) > to || !IsIndex(uint32(h)) {
				return out, nil // past the range, or a TPM that did not move on
			}
			out = append(out, uint32(h))
			next = uint32(h) + 1
		}
		if !bool(rsp.MoreData) || len(hs.Handle) == 0 || next > to {
			return out, nil
		}
	}
}

// authHandle is the handle authorising an access to p by a.
func authHandle(p Public, a Auth, ownerAuth []byte) (tpm2.AuthHandle, error) {
	switch a {
	case Owner:
		return tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(ownerAuth)}, nil
	case Index:
		return tpm2.AuthHandle{Handle: tpm2.TPMHandle(p.Index), Name: p.Name, Auth: tpm2.PasswordAuth(nil)}, nil
	}
	return tpm2.AuthHandle{}, fmt.Errorf("0x%08x: %w", p.Index, ErrNoAuth)
}
