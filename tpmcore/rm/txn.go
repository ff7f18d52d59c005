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
// kernel's three steps: prepare (load what the command names, translate
// virtual handles), transmit, commit (virtualise what it returns, then save
// and flush everything loaded). Whatever happens, finish runs, so nothing
// stays loaded in the TPM between commands.
type txn struct {
	m    *Manager
	sp   *Space
	t    transport.TPM
	c    command
	orig []byte    // the client's command, as the client sent it
	buf  []byte    // the command as sent to the TPM, handles translated
	objs []*loaded // objects in the TPM for this command
	sess []uint32  // sessions in the TPM for this command
}

// loaded is one of the space's objects while it is in the TPM.
type loaded struct {
	vh   uint32
	real uint32
	save bool // save again before flushing: a new or a sequence object
	done bool // no longer in the TPM (the command flushed it)
}

func (x *txn) run() ([]byte, error) {
	if x.c.cc == uint32(tpm2.TPMCCFlushContext) {
		return x.flushContext()
	}
	if rc := x.checkQuota(); rc != tpm2.TPMRCSuccess {
		return errorResponse(rc), nil
	}
	rc, err := x.prepare()
	if err != nil {
		x.abandon()
		return nil, err
	}
	if rc != tpm2.TPMRCSuccess {
		if _, err := x.finish(); err != nil {
			return nil, err
		}
		return errorResponse(rc), nil
	}
	rsp, err := x.transmit()
	if err != nil {
		x.abandon()
		return nil, err
	}
	return x.commit(rsp)
}

// abandon puts back what it can after the transport failed; its own
// failures add nothing to that.
func (x *txn) abandon() { _, _ = x.finish() }

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

// prepare loads the objects and sessions the command names, in its handle
// area and its authorization area, and translates virtual handles. A
// handle the space does not own is refused as the TPM refuses an unloaded
// one, so a space can neither use nor probe another's.
func (x *txn) prepare() (tpm2.TPMRC, error) {
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
	real, rc, err := contextLoad(x.t, o.ctx)
	if err != nil || rc != tpm2.TPMRCSuccess {
		if lost(rc) {
			// E.g. the TPM was reset: the context can never load again.
			delete(x.sp.objects, vh)
			x.m.log.Debugf("rm: object 0x%08x forgotten: context load: %v", vh, rc)
		}
		return 0, rc, err
	}
	x.objs = append(x.objs, &loaded{vh: vh, real: real, save: o.mutable()})
	return real, tpm2.TPMRCSuccess, nil
}

func (x *txn) loadSession(h uint32, unknown tpm2.TPMRC) (tpm2.TPMRC, error) {
	if slices.Contains(x.sess, h) {
		return tpm2.TPMRCSuccess, nil
	}
	s, ok := x.sp.sessions[h]
	if !ok {
		return unknown, nil
	}
	got, rc, err := contextLoad(x.t, s.ctx)
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
	x.sess = append(x.sess, h)
	return tpm2.TPMRCSuccess, nil
}

// transmit sends the translated command. Two answers mean the command had
// no effect and the manager can make room for it, then tries once more:
// TPM_RC_CONTEXT_GAP (the oldest saved session must be saved anew) and
// TPM_RC_SESSION_HANDLES (an orphaned client-saved session can go).
func (x *txn) transmit() ([]byte, error) {
	for retried := false; ; retried = true {
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
		case retried:
		case rc == tpm2.TPMRCContextGap:
			made, err = x.regap(nil)
		case rc == tpm2.TPMRCSessionHandles:
			made, err = x.evictOrphan()
		}
		if err != nil || !made {
			return rsp, err
		}
	}
}

// commit maps the TPM's response into the space and puts everything back.
// A failure here means the client's command ran but its result cannot be
// kept (say, a new object that cannot be saved): the client gets an error
// response and nothing of the command stays in the TPM.
func (x *txn) commit(rsp []byte) ([]byte, error) {
	var fail tpm2.TPMRC
	if rc, _ := responseCode(rsp); rc == tpm2.TPMRCSuccess {
		var err error
		if x.c.attr.rHandle {
			if fail, err = x.adopt(rsp); err != nil {
				x.abandon()
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
	}
	rc, err := x.finish()
	if err != nil {
		return nil, err
	}
	if fail == tpm2.TPMRCSuccess {
		fail = rc
	}
	if fail != tpm2.TPMRCSuccess {
		return errorResponse(fail), nil
	}
	return rsp, nil
}

// adopt takes the handle a command returned into the space: a new object
// gets a virtual handle, a new session stays under its own.
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
		x.sp.objects[vh] = &object{}
		x.objs = append(x.objs, &loaded{vh: vh, real: h, save: true})
		binary.BigEndian.PutUint32(rsp[tpmwire.HeaderSize:], vh)
	case isSession(h):
		if rc := x.m.roomForSession(x.sp, h); rc != tpm2.TPMRCSuccess {
			_, err := flushContext(x.t, h)
			return rc, err
		}
		x.m.adoptSession(x.sp, h)
		if !slices.Contains(x.sess, h) {
			x.sess = append(x.sess, h)
		}
	}
	return tpm2.TPMRCSuccess, nil
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
