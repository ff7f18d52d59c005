package tpmcore

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// flushLeftovers flushes every transient object and loaded session in the
// TPM but those in keep. Between jobs nothing of tpmfs's stays loaded but
// what the resource manager keeps resident (its clients' and tpmcore's
// own keys and sessions, keep), so whatever else is there was left by a
// job that the TPM or its caller cut short, or by an earlier tpmfs that
// died mid-seal. Left there, a few of them fill the TPM's object slots and
// every later seal fails. Through /dev/tpmrm0 the kernel shows us only our
// own handles; the other backends have no other user.
func flushLeftovers(t transport.TPM, keep []tpm2.TPMHandle) error {
	var errs []error
	for _, kind := range []tpm2.TPMHT{tpm2.TPMHTTransient, tpm2.TPMHTLoadedSession} {
		// Flushed handles disappear from the list, so ask again from the
		// start; the bound guards against a TPM that never lets go.
		for round := 0; round < 4; round++ {
			hs, err := loadedHandles(t, kind)
			if err != nil {
				errs = append(errs, err)
				break
			}
			hs = slices.DeleteFunc(hs, func(h tpm2.TPMHandle) bool { return slices.Contains(keep, h) })
			if len(hs) == 0 {
				break
			}
			for _, h := range hs {
				if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t); err != nil {
					errs = append(errs, fmt.Errorf("flush 0x%08x: %w", uint32(h), err))
				}
			}
			if len(errs) > 0 {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// loadedHandles lists the TPM's handles of one kind: transient objects,
// or loaded sessions (HMAC and policy).
func loadedHandles(t transport.TPM, kind tpm2.TPMHT) ([]tpm2.TPMHandle, error) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapHandles,
		Property:      uint32(kind) << 24,
		PropertyCount: 64,
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("list handles 0x%02x: %w", uint8(kind), err)
	}
	l, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		return nil, fmt.Errorf("list handles 0x%02x: %w", uint8(kind), err)
	}
	var hs []tpm2.TPMHandle
	for _, h := range l.Handle {
		switch ht := tpm2.TPMHT(h >> 24); {
		case ht == kind, kind == tpm2.TPMHTLoadedSession && ht == tpm2.TPMHTPolicySession:
			hs = append(hs, h)
		}
	}
	return hs, nil
}
