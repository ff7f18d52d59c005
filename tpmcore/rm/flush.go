package rm

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
)

// flushContext runs a client's FlushContext, whose handle is a parameter,
// not in the handle area, so it is translated here. An object of the
// space is flushed from the TPM if it is resident, and forgotten (a saved
// context holds no TPM memory). A session of the space is flushed in the
// TPM (saved sessions hold a TPM slot too), and so is one its client
// saved itself and nobody has loaded since (tpm2_flushcontext
// --saved-session). Anyone else's handle is refused.
func (x *txn) flushContext() ([]byte, error) {
	if x.c.tag != tpm2.TPMSTNoSessions {
		return errorResponse(tpm2.TPMRCAuthContext), nil
	}
	r := tpmwire.NewReader(x.orig[x.c.paramOff:])
	h := r.U32()
	if r.Done() != nil {
		return errorResponse(tpm2.TPMRCCommandSize), nil
	}
	switch {
	case isTransient(h):
		o, own := x.sp.objects[h]
		if !own {
			return errorResponse(paramRC(1)), nil
		}
		delete(x.sp.objects, h)
		if o.real != 0 {
			rc, err := flushContext(x.t, o.real)
			if err != nil {
				return nil, err
			}
			if rc != tpm2.TPMRCSuccess && !gone(rc) {
				x.m.log.Warnf("rm: flush of object 0x%08x failed: %v", o.real, rc)
			}
		}
		return successResponse(), nil
	case isSession(h):
		_, own := x.sp.sessions[h]
		saved, detached := x.m.detachedIndex(x.sp, h)
		if !own && !detached {
			return errorResponse(paramRC(1)), nil
		}
		rsp, err := x.transmit()
		if err != nil {
			return nil, err
		}
		if rc, _ := responseCode(rsp); rc == tpm2.TPMRCSuccess || gone(rc) {
			if own {
				x.m.forgetSession(x.sp, h)
			} else {
				delete(x.m.detached, saved)
			}
		}
		return rsp, nil
	}
	// Not a context handle: the TPM refuses it in its own words.
	return x.transmit()
}

// Flush ends a space, as closing /dev/tpmrm0 does: its sessions and its
// resident objects are flushed from the TPM, its saved object contexts
// forgotten. Sessions its client saved itself with ContextSave are left
// to whoever holds the saved context (see saved.go). A flushed space
// refuses further commands. The caller holds exclusive use of tpm.
// Errors report what could not be flushed; the space is ended all the
// same.
func (m *Manager) Flush(tpm transport.TPM, sp *Space) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sp.closed {
		return nil
	}
	sp.closed = true
	delete(m.spaces, sp)
	var errs []error
	for _, h := range sp.sessionHandles() {
		m.forgetSession(sp, h)
		if len(errs) > 0 && !isTPMError(errs[len(errs)-1]) {
			continue // the transport failed: do not try every session
		}
		rc, err := flushContext(tpm, h)
		switch {
		case err != nil:
			errs = append(errs, err)
		case rc != tpm2.TPMRCSuccess && !gone(rc):
			errs = append(errs, fmt.Errorf("flush session 0x%08x: %w", h, rc))
		}
	}
	for _, vh := range sp.virtualHandles() {
		o := sp.objects[vh]
		if o.real == 0 || len(errs) > 0 && !isTPMError(errs[len(errs)-1]) {
			continue
		}
		rc, err := flushContext(tpm, o.real)
		switch {
		case err != nil:
			errs = append(errs, err)
		case rc != tpm2.TPMRCSuccess && !gone(rc):
			errs = append(errs, fmt.Errorf("flush object 0x%08x: %w", o.real, rc))
		}
	}
	m.orphan(sp)
	clear(sp.objects)
	return errors.Join(errs...)
}

func isTPMError(err error) bool {
	var rc tpm2.TPMRC
	return errors.As(err, &rc)
}
