package rm

import (
	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/tpmwire"
)

// RMLayer tags the response codes the manager makes itself, as
// TSS2_RESMGR_TPM_RC_LAYER does for the kernel and tpm2-abrmd, so a client
// can tell them from the TPM's own.
const RMLayer = 11 << 16

// Wire layout of TPM 2.0 commands and responses (Part 1, section 18),
// after the header (package tpmwire).
const (
	// maxAuthSessions is the most sessions an authorization area holds.
	maxAuthSessions = 3

	// continueSession is the TPMA_SESSION bit that keeps a session alive
	// after a successful command.
	continueSession = 0x01
)

// rcBadTag is TPM_RC_BAD_TAG, which go-tpm does not name.
const rcBadTag tpm2.TPMRC = 0x01E

// Handle types (the top byte of a handle) the manager virtualises.
const (
	htHMACSession   = 0x02
	htPolicySession = 0x03 // also TPM_HT_SAVED_SESSION in GetCapability
	htTransient     = 0x80
	htPersistent    = 0x81
)

func handleType(h uint32) byte { return byte(h >> 24) }

func isTransient(h uint32) bool { return handleType(h) == htTransient }

func isSession(h uint32) bool {
	t := handleType(h)
	return t == htHMACSession || t == htPolicySession
}

// cmdAttr is what the manager needs of a command's TPMA_CC.
type cmdAttr struct {
	handles int  // cHandles: handles in the command's handle area
	rHandle bool // the response carries one handle
	flushed bool // the command flushes the transient objects it names
}

// authEntry is one session of a command's authorization area.
type authEntry struct {
	off    int    // offset of the session handle in the command
	handle uint32 // session handle, or TPM_RS_PW
	attrs  byte   // TPMA_SESSION
}

// command is a parsed client command. It holds offsets into the bytes it
// was parsed from, so that handles can be translated in place.
type command struct {
	tag      tpm2.TPMST
	cc       uint32
	attr     cmdAttr
	sessions []authEntry
	paramOff int // where the parameter area starts
}

// handleOff is the offset of handle i (0-based) in the handle area.
func handleOff(i int) int { return tpmwire.HeaderSize + 4*i }

// parseCommand checks one whole command against the header rules and the
// TPM's own command attributes, and locates its handles, sessions and
// parameters. It reads nothing past b and on failure returns the response
// code the client gets (without the RM layer).
func parseCommand(b []byte, attrs map[uint32]cmdAttr) (command, tpm2.TPMRC) {
	var c command
	h, ok := tpmwire.ParseHeader(b)
	if !ok || len(b) > tpmwire.MaxSize {
		return c, tpm2.TPMRCCommandSize
	}
	c.tag = tpm2.TPMST(h.Tag)
	if c.tag != tpm2.TPMSTNoSessions && c.tag != tpm2.TPMSTSessions {
		return c, rcBadTag
	}
	if h.Size != uint32(len(b)) {
		return c, tpm2.TPMRCCommandSize
	}
	c.cc = h.Code
	a, ok := attrs[c.cc]
	if !ok {
		return c, tpm2.TPMRCCommandCode
	}
	c.attr = a
	off := handleOff(a.handles)
	if off > len(b) {
		return c, tpm2.TPMRCCommandSize
	}
	if c.tag == tpm2.TPMSTSessions {
		end, rc := parseAuthArea(b, off, &c)
		if rc != tpm2.TPMRCSuccess {
			return c, rc
		}
		off = end
	}
	c.paramOff = off
	return c, tpm2.TPMRCSuccess
}

// parseAuthArea reads the authorizationSize at off and the sessions it
// spans (Part 1, section 18.6), returning where the parameters start.
func parseAuthArea(b []byte, off int, c *command) (int, tpm2.TPMRC) {
	r := tpmwire.NewReader(b[off:])
	size := r.U32()
	// Compare in uint64 so a huge size cannot wrap around.
	if r.Err() != nil || size == 0 || uint64(size) > uint64(r.Len()) {
		return 0, tpm2.TPMRCAuthSize
	}
	end := off + 4 + int(size)
	area := tpmwire.NewReader(b[off+4 : end])
	for area.Len() > 0 {
		if len(c.sessions) == maxAuthSessions {
			return 0, tpm2.TPMRCAuthSize
		}
		e := authEntry{off: end - area.Len()}
		e.handle = area.U32()
		area.Sized2B() // nonceCaller
		e.attrs = area.U8()
		area.Sized2B() // hmac
		if area.Err() != nil {
			return 0, tpm2.TPMRCAuthSize
		}
		c.sessions = append(c.sessions, e)
	}
	return end, tpm2.TPMRCSuccess
}

// firstHandle returns the handle at the start of a response's parameters
// area (a command that returns one puts it there), if there is one.
func firstHandle(rsp []byte) (uint32, bool) {
	if len(rsp) < tpmwire.HeaderSize {
		return 0, false
	}
	r := tpmwire.NewReader(rsp[tpmwire.HeaderSize:])
	h := r.U32()
	return h, r.Err() == nil
}

// responseCode returns a response's code, and whether the response is
// well formed (a whole header whose size field matches its length).
func responseCode(rsp []byte) (tpm2.TPMRC, bool) {
	h, ok := tpmwire.ParseHeader(rsp)
	if !ok || h.Size != uint32(len(rsp)) {
		return 0, false
	}
	return tpm2.TPMRC(h.Code), true
}

// errorResponse is the response a client gets for a failure of the
// manager's own: a bare header with rc tagged with the RM layer.
func errorResponse(rc tpm2.TPMRC) []byte {
	return bareResponse(RMLayer | uint32(rc))
}

// successResponse is an empty successful response, for commands the
// manager answers itself (FlushContext of a virtual handle).
func successResponse() []byte { return bareResponse(uint32(tpm2.TPMRCSuccess)) }

func bareResponse(code uint32) []byte {
	h := tpmwire.Header{Tag: uint16(tpm2.TPMSTNoSessions), Size: tpmwire.HeaderSize, Code: code}
	return h.Append(make([]byte, 0, tpmwire.HeaderSize))
}

// Format-1 response codes naming the handle, session or parameter at
// fault (index from 1), as the TPM itself would.
func handleRC(i int) tpm2.TPMRC  { return tpm2.TPMRCHandle | tpm2.TPMRC(i<<8) }
func sessionRC(i int) tpm2.TPMRC { return tpm2.TPMRCHandle | 0x800 | tpm2.TPMRC(i<<8) }
func paramRC(i int) tpm2.TPMRC   { return tpm2.TPMRCHandle | 0x040 | tpm2.TPMRC(i<<8) }
