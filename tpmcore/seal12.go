package tpmcore

import (
	"errors"
	"fmt"

	"tpmfs/tpmcore/sealing"
)

// sealErr12 maps the errors of a TPM 1.2 seal job (sealing.Seal12 and its
// kin: the same envelope, its key sealed with TPM_Seal under the SRK) to
// tpmcore's sentinels.
func sealErr12(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrPolicy), errors.Is(err, ErrWrongTPM), errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, sealing.ErrPCRUnavailable), errors.Is(err, sealing.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return classify12("tpm", err)
}
