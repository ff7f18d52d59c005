package rm

import (
	"encoding/binary"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/tpmwire"
)

// A session a client saves itself (ContextSave) leaves its space: it
// belongs to whoever holds the saved context, which tpm2-tools keep in a
// file for the next process. Closing the space does not flush it, as with
// the kernel's /dev/tpmrm0 (whose tpm2_save_space forgets a session the
// client saved, so tpm2_del_space never flushes it). The manager still
// remembers it, and bounds it:
//   - it counts against the space that saved it and against its uid
//     (quota.go) until it is flushed or loaded again;
//   - the client's space lists it among saved sessions and may flush it;
//     once that space is closed it is an orphan, which any space of the
//     same uid (or an admin) lists and may flush, as tpm2_flushcontext
//     --saved-session does;
//   - the manager flushes the oldest orphan when the TPM runs out of
//     session handles, for a client or for tpmcore (Reclaim), so clients
//     cannot use up the TPM's sessions by saving them and leaving;
//   - a client-saved session that blocks the TPM's context counter
//     (CONTEXT_GAP) is flushed, since only its holder could load it.
type detached struct {
	by  *Space // the space whose client saved it; nil once that space closed
	uid uint32 // the uid of that space
	seq uint64 // sequence of the saved context
	n   uint64 // when it was saved, in client saves
}

// detachSaved handles a successful ContextSave by a client of one of its
// sessions.
func (x *txn) detachSaved(rsp []byte) {
	h := binary.BigEndian.Uint32(x.orig[handleOff(0):])
	if !isSession(h) {
		return
	}
	x.dropSession(h)
	x.m.forgetSession(x.sp, h)
	// The response is a TPMS_CONTEXT, which starts with its sequence.
	var seq uint64
	if len(rsp) >= tpmwire.HeaderSize {
		r := tpmwire.NewReader(rsp[tpmwire.HeaderSize:])
		seq = r.U64()
	}
	x.m.saves++
	x.m.detached[h] = &detached{by: x.sp, uid: x.sp.uid, seq: seq, n: x.m.saves}
}

// detachedBy lists the client-saved sessions sp may see and flush, by
// index: its own, and the orphans of its uid (of every uid for an
// admin). Like the TPM, which cannot tell a saved session's type, it
// names them all in the HMAC session range.
func (m *Manager) detachedBy(sp *Space) []uint32 {
	var hs []uint32
	for h, d := range m.detached {
		if m.visible(sp, d) {
			hs = append(hs, htHMACSession<<24|h&0xFFFFFF)
		}
	}
	sortByIndex(hs)
	return hs
}

// detachedIndex finds a client-saved session sp may flush under handle
// h, matched by index, since the TPM lists saved sessions in the HMAC
// range and flushes them by index.
func (m *Manager) detachedIndex(sp *Space, h uint32) (uint32, bool) {
	for k, d := range m.detached {
		if m.visible(sp, d) && k&0xFFFFFF == h&0xFFFFFF {
			return k, true
		}
	}
	return 0, false
}

func (m *Manager) visible(sp *Space, d *detached) bool {
	return d.by == sp || d.by == nil && (sp.admin || d.uid == sp.uid)
}

// orphan marks the sessions sp's client saved as nobody's: sp is closing.
func (m *Manager) orphan(sp *Space) {
	for _, d := range m.detached {
		if d.by == sp {
			d.by = nil
		}
	}
}

// evictOrphan flushes the orphan saved longest ago, to free a session
// handle. It reports whether it freed one.
func (x *txn) evictOrphan() (bool, error) {
	for {
		var (
			oldest uint32
			best   *detached
		)
		for h, d := range x.m.detached {
			if d.by == nil && (best == nil || d.n < best.n) {
				oldest, best = h, d
			}
		}
		if best == nil {
			return false, nil
		}
		if ok, err := x.evict(oldest); ok || err != nil {
			return ok, err
		}
	}
}

// evict flushes a client-saved session from the TPM and forgets it. It
// reports false if the TPM no longer had it (a stale record, say after a
// TPM reset).
func (x *txn) evict(h uint32) (bool, error) {
	rc, err := flushContext(x.t, h)
	if err != nil {
		return false, err
	}
	delete(x.m.detached, h)
	if rc != tpm2.TPMRCSuccess {
		return false, nil
	}
	x.m.log.Infof("rm: flushed session 0x%08x, saved by a client and not loaded again", h)
	return true, nil
}
