package rm

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/tpmwire"
)

// maxCapHandles is MAX_CAP_HANDLES for the reference MAX_CAP_BUFFER of
// 1024 bytes: the most handles one GetCapability response carries.
const maxCapHandles = 254

// filterCapability rewrites a successful GetCapability(TPM_CAP_HANDLES)
// response for the ranges the manager virtualises, so a client sees only
// its own: transient objects (by virtual handle), loaded sessions (all of
// the space's sessions, which are loaded whenever its commands run) and
// saved sessions (those its client saved itself). The TPM still runs the
// command, so a malformed request gets the TPM's own error. Other
// capabilities and handle ranges pass unchanged.
func (x *txn) filterCapability(rsp []byte) ([]byte, error) {
	r := tpmwire.NewReader(x.orig[x.c.paramOff:])
	capab, prop, count := r.U32(), r.U32(), r.U32()
	if r.Err() != nil || tpm2.TPMCap(capab) != tpm2.TPMCapHandles {
		return rsp, nil
	}
	var list []uint32
	switch handleType(prop) {
	case htTransient:
		list = x.sp.virtualHandles()
		list = slices.DeleteFunc(list, func(h uint32) bool { return h < prop })
	case htHMACSession:
		list = x.sp.sessionHandles()
	case htPolicySession:
		list = x.m.detachedBy(x.sp)
	default:
		return rsp, nil
	}
	if handleType(prop) != htTransient {
		// Session ranges are one pool of indexes (Part 2, TPM_HT_LOADED_SESSION).
		list = slices.DeleteFunc(list, func(h uint32) bool { return h&0xFFFFFF < prop&0xFFFFFF })
	}
	n := min(len(list), int(min(count, maxCapHandles)))
	return replaceCapHandles(rsp, list[:n], len(list) > n)
}

// replaceCapHandles rebuilds a GetCapability response around a new handle
// list: parameters moreData, capability, count, handles (Part 3, 30.2),
// keeping a response authorization area if there is one. (An audit
// session's response HMAC then no longer matches: the list is not the
// TPM's.)
func replaceCapHandles(rsp []byte, hs []uint32, more bool) ([]byte, error) {
	params := make([]byte, 9+4*len(hs))
	if more {
		params[0] = 1
	}
	binary.BigEndian.PutUint32(params[1:5], uint32(tpm2.TPMCapHandles))
	binary.BigEndian.PutUint32(params[5:9], uint32(len(hs)))
	for i, h := range hs {
		binary.BigEndian.PutUint32(params[9+4*i:], h)
	}

	h, ok := tpmwire.ParseHeader(rsp)
	if !ok {
		return nil, fmt.Errorf("GetCapability response: %w", ErrBadResponse)
	}
	out := append([]byte(nil), rsp[:tpmwire.HeaderSize]...)
	if tpm2.TPMST(h.Tag) == tpm2.TPMSTSessions {
		r := tpmwire.NewReader(rsp[tpmwire.HeaderSize:])
		size := r.U32()
		if r.Err() != nil || uint64(size) > uint64(r.Len()) {
			return nil, fmt.Errorf("GetCapability response: %w", ErrBadResponse)
		}
		auth := r.Rest()[size:]
		out = binary.BigEndian.AppendUint32(out, uint32(len(params)))
		out = append(out, params...)
		out = append(out, auth...)
	} else {
		out = append(out, params...)
	}
	binary.BigEndian.PutUint32(out[2:6], uint32(len(out)))
	return out, nil
}
