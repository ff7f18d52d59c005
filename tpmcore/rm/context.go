package rm

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// The manager's own context operations. Each returns the TPM's response
// code when the command ran and failed, and an error only when the
// transport did, so callers can tell "this context is lost" from "the TPM
// is unreachable".

func contextLoad(t transport.TPM, ctx tpm2.TPMSContext) (uint32, tpm2.TPMRC, error) {
	rsp, err := tpm2.ContextLoad{Context: ctx}.Execute(t)
	if rc, err := splitErr(err); rc != tpm2.TPMRCSuccess || err != nil {
		return 0, rc, wrap("context load", err)
	}
	return uint32(rsp.LoadedHandle), tpm2.TPMRCSuccess, nil
}

func contextSave(t transport.TPM, h uint32) (tpm2.TPMSContext, tpm2.TPMRC, error) {
	rsp, err := tpm2.ContextSave{SaveHandle: tpm2.TPMHandle(h)}.Execute(t)
	if rc, err := splitErr(err); rc != tpm2.TPMRCSuccess || err != nil {
		return tpm2.TPMSContext{}, rc, wrap(fmt.Sprintf("context save 0x%08x", h), err)
	}
	return rsp.Context, tpm2.TPMRCSuccess, nil
}

func flushContext(t transport.TPM, h uint32) (tpm2.TPMRC, error) {
	_, err := tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(h)}.Execute(t)
	rc, err := splitErr(err)
	return rc, wrap(fmt.Sprintf("flush context 0x%08x", h), err)
}

// splitErr separates a TPM response code from a transport failure.
func splitErr(err error) (tpm2.TPMRC, error) {
	if err == nil {
		return tpm2.TPMRCSuccess, nil
	}
	var rc tpm2.TPMRC
	if errors.As(err, &rc) {
		return rc, nil
	}
	return tpm2.TPMRCSuccess, err
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// gone reports whether rc says that a handle names nothing in the TPM:
// the object or session was flushed (by the command, by its
// continueSession clear, or by a TPM restart) or saved by the client.
func gone(rc tpm2.TPMRC) bool {
	return errors.Is(rc, tpm2.TPMRCHandle) ||
		(rc >= tpm2.TPMRCReferenceH0 && rc <= tpm2.TPMRCReferenceH6)
}

// lost reports whether a saved context that failed to load with rc can
// never load again (as opposed to a warning such as OBJECT_MEMORY, after
// which the same context may load later).
func lost(rc tpm2.TPMRC) bool {
	return rc != tpm2.TPMRCSuccess && !rc.IsWarning() || gone(rc)
}
