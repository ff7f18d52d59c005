package rm

import (
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// Quotas per space. The TPM itself holds only a few objects at a time
// (three in the reference implementation); a space holds many more because
// only the objects a command names are loaded, and only while it runs.
const (
	MaxObjects  = 32
	MaxSessions = 8
)

// Virtual handles are vhandleBase + index: in the transient range, as
// clients expect, but far from the handles the TPM hands out (0x80000000
// up), so a real handle can never be mistaken for a virtual one.
const (
	vhandleBase  = 0x80FF0000
	vhandleCount = 0x10000
)

// savedSequence is TPMS_CONTEXT.savedHandle for a sequence object: the
// one kind of object whose state a command changes, so it is saved again
// after every use.
const savedSequence = 0x80000001

// Space is what one client (one open of tpmrm0) owns: its transient
// objects, behind virtual handles, and its sessions, under their real
// handles. Each stays loaded in the TPM after the commands that use it
// (it is resident) until the manager needs its slot for another command,
// or the space closes; then it is kept as a saved context. A Space is
// only used through its Manager, which serialises access.
type Space struct {
	uid      uint32              // the caller's, for the command policy and quotas
	admin    bool                // a uid that Rules.Admins lists: no policy, no quota
	internal bool                // the manager's caller's own space (NewInternalSpace)
	objects  map[uint32]*object  // by virtual handle
	sessions map[uint32]*session // by real session handle
	next     uint32              // index of the next virtual handle to try
	closed   bool
}

type object struct {
	// ctx is the saved context; empty until the object is first saved
	// (it loads again and again, as long as the TPM keeps its state).
	ctx tpm2.TPMSContext
	// real is its handle in the TPM while it is resident, else 0.
	real uint32
	// dirty: the TPM's copy is newer than ctx (a new object, or a
	// sequence used since), so it is saved before it is flushed.
	dirty bool
	// seq: a hash or HMAC sequence, whose state every use changes.
	seq  bool
	used uint64 // the manager's clock when a command last named it
}

type session struct {
	// ctx is the saved context while the session is not resident; a
	// session context loads only once.
	ctx      tpm2.TPMSContext
	resident bool
	used     uint64
}

func newSpace(uid uint32, admin bool) *Space {
	return &Space{
		uid:      uid,
		admin:    admin,
		objects:  make(map[uint32]*object),
		sessions: make(map[uint32]*session),
	}
}

// allocVirtual returns an unused virtual handle. Handles are handed out in
// turn rather than lowest-first, so a stale handle a client still holds is
// unlikely to name a newer object. The quota keeps it from failing.
func (sp *Space) allocVirtual() (uint32, bool) {
	for range vhandleCount {
		vh := vhandleBase + sp.next
		sp.next = (sp.next + 1) % vhandleCount
		if _, used := sp.objects[vh]; !used {
			return vh, true
		}
	}
	return 0, false
}

// virtualHandles lists the space's objects in handle order.
func (sp *Space) virtualHandles() []uint32 {
	hs := make([]uint32, 0, len(sp.objects))
	for h := range sp.objects {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

// sessionHandles lists the space's sessions in the order the TPM lists
// sessions: by index, whatever their type.
func (sp *Space) sessionHandles() []uint32 {
	hs := make([]uint32, 0, len(sp.sessions))
	for h := range sp.sessions {
		hs = append(hs, h)
	}
	sortByIndex(hs)
	return hs
}

// sortByIndex orders session handles by their index (low 24 bits), as the
// TPM numbers HMAC and policy sessions from one pool.
func sortByIndex(hs []uint32) {
	slices.SortFunc(hs, func(a, b uint32) int {
		return int(a&0xFFFFFF) - int(b&0xFFFFFF)
	})
}
