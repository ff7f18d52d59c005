package rm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
)

// txn is one client command on its way through the manager, in the
// kernel's three steps: prepare (make what the command names resident,
// translate virtual handles), transmit, commit (virtualise what it
// returns). Unlike the kernel, nothing is saved and flushed after the
// command: what it used stays resident until another command needs its
// slot (resident.go) or the space closes, which saves the ContextSave
// and ContextLoad pairs a client of its own would otherwise pay per
// command.
type txn struct {
	m    *Manager
	sp   *Space
	t    transport.TPM
	c    command
	orig []byte    // the client's command, as the client sent it
	buf  []byte    // the command as sent to the TPM, handles translated
	objs []*loaded // objects in the TPM for this command
	sess []uint32  // sessions in the TPM for this command
	// was holds what was resident before this command named it: if the
	// TPM says it is not loaded, it vanished behind the manager's back.
	was map[uint32]bool
}

// loaded is one of the space's objects while a command uses it.
type loaded struct {
	vh   uint32
	real uint32
	done bool // no longer in the TPM (the command flushed it)
}

// Sequence objects (Part 3, 17): every use changes their state.
var sequenceStarts = []tpm2.TPMCC{tpm2.TPMCCHashSequenceStart, tpm2.TPMCCMACStart}

func (x *txn) run() ([]byte, error) {
	x.m.clock++
	if x.c.cc == uint32(tpm2.TPMCCFlushContext) {
		return x.flushContext()
	}
	if rc := x.checkQuota(); rc != tpm2.TPMRCSuccess {
		return errorResponse(rc), nil
	}
	if x.readsVariableProperties() {
		// The counts of loaded objects and sessions are the TPM's: show
		// them as the kernel would, with nothing of anyone's resident.
		if err := x.m.swapOut(x.t); err != nil {
			return nil, err
		}
	}
	for retried := false; ; retried = true {
		if err := x.makeRoom(); err != nil {
			return nil, err
		}
		rc, err := x.prepare()
		if err != nil {
			return nil, err
		}
		if rc != tpm2.TPMRCSuccess {
			x.finish()
			return errorResponse(rc), nil
		}
		rsp, err := x.transmit()
		if err != nil {
			return nil, err
		}
		// A resident context that vanished (a TPM reset, Clear, another
		// user of the TPM) is forgotten, or loaded again from its saved
		// context once.
		if gone, lost, rc := x.vanished(rsp); gone && !retried {
			if lost {
				x.finish()
				return errorResponse(rc), nil
			}
			x.objs, x.sess = nil, nil
			continue
		}
		return x.commit(rsp)
	}
}

// checkQuota refuses, before the TPM does any work, a command that would
// give the space or its uid one object or session more than it may hold
// (quota.go).
func (x *txn) checkQuota() tpm2.TPMRC {
	if !x.c.attr.rHandle {
		return tpm2.TPMRCSuccess
	}
	switch tpm2.TPMCC(x.c.cc) {
	case tpm2.TPMCCStartAuthSession:
		return x.m.roomForSession(x.sp, 0)
	case tpm2.TPMCCContextLoad:
		// TPMS_CONTEXT starts with sequence (8 bytes), then savedHandle,
		// which for a session is its handle.
		r := tpmwire.NewReader(x.orig[x.c.paramOff:])
		r.U64()
		if h := r.U32(); r.Err() == nil && isSession(h) {
			return x.m.roomForSession(x.sp, h)
		}
	}
	return x.m.roomForObject(x.sp)
}

// readsVariableProperties: GetCapability(TPM_PROPERTIES) reaching into
// the variable group (PT_VAR: loaded and active sessions, free object
// slots).
func (x *txn) readsVariableProperties() bool {
	if x.c.cc != uint32(tpm2.TPMCCGetCapability) {
		return false
	}
	r := tpmwire.NewReader(x.orig[x.c.paramOff:])
	capab, prop, count := r.U32(), r.U32(), r.U32()
	const ptVar, ptVarEnd = 0x200, 0x300
	return r.Err() == nil && tpm2.TPMCap(capab) == tpm2.TPMCapTPMProperties &&
		uint64(prop)+uint64(count) > ptVar && prop < ptVarEnd
}

// prepare makes resident the objects and sessions the command names, in
// its handle area and its authorization area, and translates virtual
// handles. A handle the space does not own is refused as the TPM refuses
// an unloaded one, so a space can neither use nor probe another's.
func (x *txn) prepare() (tpm2.TPMRC, error) {
	x.was = map[uint32]bool{}
	for i := range x.c.attr.handles {
		off := handleOff(i)
		h := binary.BigEndian.Uint32(x.orig[off:])
		switch {
		case isTransient(h):
			real, rc, err := x.loadObject(h, handleRC(i+1))
			if rc != tpm2.TPMRCSuccess || err != nil {
				return rc, err
			}
			binary.BigEndian.PutUint32(x.buf[off:], real)
		case isSession(h):
			if rc, err := x.loadSession(h, handleRC(i+1)); rc != tpm2.TPMRCSuccess || err != nil {
				return rc, err
			}
		}
	}
	for j, s := range x.c.sessions {
		if isSession(s.handle) {
			if rc, err := x.loadSession(s.handle, sessionRC(j+1)); rc != tpm2.TPMRCSuccess || err != nil {
				return rc, err
			}
		}
	}
	return tpm2.TPMRCSuccess, nil
}

func (x *txn) loadObject(vh uint32, unknown tpm2.TPMRC) (uint32, tpm2.TPMRC, error) {
	for _, l := range x.objs {
		if l.vh == vh { // named twice in one command
			return l.real, tpm2.TPMRCSuccess, nil
		}
	}
	o, ok := x.sp.objects[vh]
	if !ok {
		return 0, unknown, nil
	}
	if o.real != 0 {
		x.was[o.real] = true
	} else {
		if len(o.ctx.ContextBlob.Buffer) == 0 {
			// Never saved and no longer in the TPM: it is gone.
			delete(x.sp.objects, vh)
			return 0, unknown, nil
		}
		real, rc, err := x.contextLoad(o.ctx, false)
		if err != nil || rc != tpm2.TPMRCSuccess {
			if lost(rc) {
				// E.g. the TPM was reset: the context can never load again.
				delete(x.sp.objects, vh)
				x.m.log.Debugf("rm: object 0x%08x forgotten: context load: %v", vh, rc)
			}
			return 0, rc, err
		}
		x.m.claim(real, o)
		o.real = real
	}
	o.used = x.m.clock
	x.objs = append(x.objs, &loaded{vh: vh, real: o.real})
	return o.real, tpm2.TPMRCSuccess, nil
}

func (x *txn) loadSession(h uint32, unknown tpm2.TPMRC) (tpm2.TPMRC, error) {
	if slices.Contains(x.sess, h) {
		return tpm2.TPMRCSuccess, nil
	}
	s, ok := x.sp.sessions[h]
	if !ok {
		return unknown, nil
	}
	if s.resident {
		x.was[h] = true
	} else {
		got, rc, err := x.contextLoad(s.ctx, true)
		if err != nil || rc != tpm2.TPMRCSuccess {
			if lost(rc) {
				x.m.forgetSession(x.sp, h)
				x.m.log.Debugf("rm: session 0x%08x forgotten: context load: %v", h, rc)
			}
			return rc, err
		}
		if got != h { // a session keeps its handle; a TPM that breaks this is broken
			if _, err := flushContext(x.t, got); err != nil {
				return 0, err
			}
			x.m.forgetSession(x.sp, h)
			return tpm2.TPMRCFailure, nil
		}
		s.resident, s.ctx = true, tpm2.TPMSContext{}
	}
	s.used = x.m.clock
	x.sess = append(x.sess, h)
	return tpm2.TPMRCSuccess, nil
}

// contextLoad loads a saved context, making room first when the TPM has
// no free slot of its kind.
func (x *txn) contextLoad(ctx tpm2.TPMSContext, session bool) (uint32, tpm2.TPMRC, error) {
	for {
		real, rc, err := contextLoad(x.t, ctx)
		if err != nil || !x.full(rc) {
			return real, rc, err
		}
		if freed, err := x.m.evict(x.t, session, x.inUse()); err != nil || !freed {
			return 0, rc, err
		}
	}
}

// full: the TPM has no free slot for an object (rc OBJECT_MEMORY) or a
// session (SESSION_MEMORY).
func (x *txn) full(rc tpm2.TPMRC) bool {
	return rc == tpm2.TPMRCObjectMemory || rc == tpm2.TPMRCSessionMemory
}

// inUse lists the real handles this command has in the TPM, which must
// stay there.
func (x *txn) inUse() []uint32 {
	hs := slices.Clone(x.sess)
	for _, l := range x.objs {
		hs = append(hs, l.real)
	}
	return hs
}

// makeRoom swaps out, before a command, what it takes to leave the TPM a
// free slot for what it loads or creates (an object, a session), for the
// contexts it names that are not resident, and for the persistent
// objects it names, which the TPM loads into a slot of their own. Making
// room once the TPM has refused the command for want of it is not
// enough: the TPM has then checked the command's sessions, and sent
// again, their authorization no longer holds.
func (x *txn) makeRoom() error {
	objects, sessions := x.newSlots()
	named := x.namedResident()
	for {
		res, resSess := x.m.residents()
		if res+objects <= x.m.objectSlots && resSess+sessions <= x.m.sessionSlots {
			return nil
		}
		session := res+objects <= x.m.objectSlots
		freed, err := x.m.evict(x.t, session, named)
		if err != nil {
			return err
		}
		if !freed && !x.m.anyResidentBut(session, named) {
			return nil // nothing more to swap: let the TPM judge
		}
	}
}

// slotCommands need a free object slot besides the handles they name:
// those that load or create an object, and TPM2_Create, which builds
// the new object in a slot of its own.
var slotCommands = []tpm2.TPMCC{
	tpm2.TPMCCCreatePrimary, tpm2.TPMCCCreate, tpm2.TPMCCCreateLoaded, tpm2.TPMCCLoad,
	tpm2.TPMCCLoadExternal, tpm2.TPMCCContextLoad, tpm2.TPMCCHashSequenceStart, tpm2.TPMCCMACStart,
}

// newSlots counts the object and session slots the command needs that
// are not taken by what it names already resident.
func (x *txn) newSlots() (objects, sessions int) {
	cc := tpm2.TPMCC(x.c.cc)
	switch {
	case cc == tpm2.TPMCCStartAuthSession:
		sessions++
	case slices.Contains(slotCommands, cc):
		objects++
	}
	for i := range x.c.attr.handles {
		h := binary.BigEndian.Uint32(x.orig[handleOff(i):])
		if o := x.sp.objects[h]; isTransient(h) && o != nil && o.real == 0 {
			objects++
		}
		if s := x.sp.sessions[h]; isSession(h) && s != nil && !s.resident {
			sessions++
		}
		if handleType(h) == htPersistent {
			objects++ // the TPM loads it into a slot for the command
		}
	}
	for _, e := range x.c.sessions {
		if s := x.sp.sessions[e.handle]; s != nil && !s.resident {
			sessions++
		}
	}
	return objects, sessions
}

// namedResident lists the real handles of the command's contexts that
// are resident: they stay.
func (x *txn) namedResident() []uint32 {
	var hs []uint32
	for i := range x.c.attr.handles {
		h := binary.BigEndian.Uint32(x.orig[handleOff(i):])
		if o := x.sp.objects[h]; isTransient(h) && o != nil && o.real != 0 {
			hs = append(hs, o.real)
		}
		if s := x.sp.sessions[h]; isSession(h) && s != nil && s.resident {
			hs = append(hs, h)
		}
	}
	for _, e := range x.c.sessions {
		if s := x.sp.sessions[e.handle]; s != nil && s.resident {
			hs = append(hs, e.handle)
		}
	}
	return hs
}

// authorized: the command carries an HMAC or policy session.
func (x *txn) authorized() bool {
	for _, e := range x.c.sessions {
		if isSession(e.handle) {
			return true
		}
	}
	return false
}

// maxMakeRoom bounds how often one command makes room and is sent again.
const maxMakeRoom = 8

// transmit sends the translated command. Some answers mean the command
// had no effect and the manager can make room for it, then send it
// again: TPM_RC_CONTEXT_GAP (the oldest saved session must be saved
// anew), TPM_RC_SESSION_HANDLES (a session can go), TPM_RC_OBJECT_MEMORY
// and TPM_RC_SESSION_MEMORY (a resident context can be swapped out).
func (x *txn) transmit() ([]byte, error) {
	for try := 0; ; try++ {
		rsp, err := x.t.Send(x.buf)
		if err != nil {
			return nil, fmt.Errorf("transmit command 0x%x: %w", x.c.cc, err)
		}
		rc, ok := responseCode(rsp)
		if !ok {
			return nil, fmt.Errorf("command 0x%x: %w", x.c.cc, ErrBadResponse)
		}
		rsp = bytes.Clone(rsp)
		made := false
		switch {
		case try == maxMakeRoom:
		case rc == tpm2.TPMRCContextGap:
			made, err = x.regap(nil)
		case rc == tpm2.TPMRCSessionHandles && x.sp.internal:
			made, err = x.reclaim()
		case rc == tpm2.TPMRCSessionHandles:
			made, err = x.evictOrphan()
		case x.full(rc) && !x.authorized():
			// (makeRoom should have left room. A command with sessions
			// is not sent again: their authorization no longer holds.)
			made, err = x.m.evict(x.t, rc == tpm2.TPMRCSessionMemory, x.inUse())
		}
		if err != nil || !made {
			return rsp, err
		}
	}
}

// vanished reports whether the TPM refused the command because a handle
// or session that was resident before it is no longer loaded. That one
// is no longer resident; lost: it had no saved context to load again,
// so it is gone for good (and forgotten).
func (x *txn) vanished(rsp []byte) (gone, lost bool, rc tpm2.TPMRC) {
	rc, _ = responseCode(rsp)
	h, ok := x.named(rc)
	if !ok || !x.was[h] {
		return false, false, rc
	}
	if s := x.sp.sessions[h]; s != nil {
		x.m.forgetSession(x.sp, h)
		x.m.log.Debugf("rm: resident session 0x%08x vanished", h)
		return true, true, rc
	}
	for vh, o := range x.sp.objects {
		if o.real == h {
			o.real = 0
			if o.dirty || len(o.ctx.ContextBlob.Buffer) == 0 {
				delete(x.sp.objects, vh)
				x.m.log.Debugf("rm: resident object 0x%08x vanished", vh)
				return true, true, rc
			}
			return true, false, rc
		}
	}
	return false, false, rc
}

// named returns the real handle a "not loaded" response code points at:
// TPM_RC_REFERENCE_H0+n and _S0+n, or TPM_RC_HANDLE naming handle or
// session n (format 1).
func (x *txn) named(rc tpm2.TPMRC) (uint32, bool) {
	handle, session := -1, -1
	switch {
	case rc >= tpm2.TPMRCReferenceH0 && rc <= tpm2.TPMRCReferenceH6:
		handle = int(rc - tpm2.TPMRCReferenceH0)
	case rc >= tpm2.TPMRCReferenceS0 && rc <= tpm2.TPMRCReferenceS6:
		session = int(rc - tpm2.TPMRCReferenceS0)
	case rc&0x0FF == tpm2.TPMRCHandle && rc&0x700 != 0:
		// Format 1, not a parameter (bit 6 clear): N in bits 8–10, bit
		// 11 set for a session.
		n := int(rc>>8&7) - 1
		if rc&0x800 != 0 {
			session = n
		} else {
			handle = n
		}
	}
	switch {
	case handle >= 0 && handle < x.c.attr.handles:
		return binary.BigEndian.Uint32(x.buf[handleOff(handle):]), true
	case session >= 0 && session < len(x.c.sessions):
		return x.c.sessions[session].handle, true
	}
	return 0, false
}

// commit maps the TPM's response into the space. A failure here means
// the client's command ran but its result cannot be kept (say, a new
// object past the quota): the client gets an error response and nothing
// of the command stays in the TPM.
func (x *txn) commit(rsp []byte) ([]byte, error) {
	var fail tpm2.TPMRC
	if rc, _ := responseCode(rsp); rc == tpm2.TPMRCSuccess {
		var err error
		if x.c.attr.rHandle {
			if fail, err = x.adopt(rsp); err != nil {
				return nil, err
			}
		}
		x.forgetFlushed()
		switch tpm2.TPMCC(x.c.cc) {
		case tpm2.TPMCCContextSave:
			x.detachSaved(rsp)
		case tpm2.TPMCCGetCapability:
			if rsp, err = x.filterCapability(rsp); err != nil {
				fail = tpm2.TPMRCFailure
				x.m.log.Warnf("rm: %v", err)
			}
		}
		x.m.changed(x.c.cc)
	}
	x.finish()
	if fail != tpm2.TPMRCSuccess {
		return errorResponse(fail), nil
	}
	return rsp, nil
}

// finish leaves what the command used resident, as of now.
func (x *txn) finish() {
	for _, l := range x.objs {
		if o := x.sp.objects[l.vh]; o != nil && !l.done {
			o.used = x.m.clock
			o.dirty = o.dirty || o.seq
		}
	}
	x.objs, x.sess = nil, nil
}

// adopt takes the handle a command returned into the space: a new object
// gets a virtual handle, a new session stays under its own. Both are
// resident.
func (x *txn) adopt(rsp []byte) (tpm2.TPMRC, error) {
	h, ok := firstHandle(rsp)
	if !ok {
		return tpm2.TPMRCFailure, nil
	}
	switch {
	case isTransient(h):
		vh, free := uint32(0), false
		if x.m.roomForObject(x.sp) == tpm2.TPMRCSuccess {
			vh, free = x.sp.allocVirtual()
		}
		if !free {
			_, err := flushContext(x.t, h)
			return tpm2.TPMRCObjectMemory, err
		}
		o := &object{real: h, dirty: true, used: x.m.clock, seq: x.startsSequence()}
		x.m.claim(h, o)
		x.sp.objects[vh] = o
		x.objs = append(x.objs, &loaded{vh: vh, real: h})
		binary.BigEndian.PutUint32(rsp[tpmwire.HeaderSize:], vh)
	case isSession(h):
		if rc := x.m.roomForSession(x.sp, h); rc != tpm2.TPMRCSuccess {
			_, err := flushContext(x.t, h)
			return rc, err
		}
		x.m.adoptSession(x.sp, h)
		s := x.sp.sessions[h]
		s.resident, s.ctx, s.used = true, tpm2.TPMSContext{}, x.m.clock
		if !slices.Contains(x.sess, h) {
			x.sess = append(x.sess, h)
		}
	}
	return tpm2.TPMRCSuccess, nil
}

// startsSequence: the command made a sequence object, started anew or
// loaded from a saved sequence context.
func (x *txn) startsSequence() bool {
	if slices.Contains(sequenceStarts, tpm2.TPMCC(x.c.cc)) {
		return true
	}
	if x.c.cc != uint32(tpm2.TPMCCContextLoad) {
		return false
	}
	r := tpmwire.NewReader(x.orig[x.c.paramOff:])
	r.U64()
	return r.U32() == savedSequence && r.Err() == nil
}

// forgetFlushed drops what a successful command flushed from the TPM: the
// transient objects of a command with the flushed attribute (the sequence
// completions) and the sessions whose continueSession was clear.
func (x *txn) forgetFlushed() {
	if x.c.attr.flushed {
		for i := range x.c.attr.handles {
			vh := binary.BigEndian.Uint32(x.orig[handleOff(i):])
			for _, l := range x.objs {
				if l.vh == vh {
					l.done = true
					delete(x.sp.objects, vh)
				}
			}
		}
	}
	for _, s := range x.c.sessions {
		if isSession(s.handle) && s.attrs&continueSession == 0 {
			x.dropSession(s.handle)
			x.m.forgetSession(x.sp, s.handle)
		}
	}
}

func (x *txn) dropSession(h uint32) {
	x.sess = slices.DeleteFunc(x.sess, func(s uint32) bool { return s == h })
}
