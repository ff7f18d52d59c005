package tpm12

import (
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"

	"tpmfs/internal/tpmwire"
)

// ordGetTicks is TPM_ORD_GetTicks.
const ordGetTicks uint32 = 0x000000F1

// tagCurrentTicks is TPM_TAG_CURRENT_TICKS (TPM Main Part 2, section 15.1).
const tagCurrentTicks uint16 = 0x0014

// TickNonce returns the nonce of the TPM's tick session
// (TPM_GetTicks): the TPM draws a new one whenever its tick counter
// starts again, at every power-on (TPM_Init), so it names one boot of
// the TPM, as a TPM 2.0's resetCount does.
func TickNonce(t transport.TPM) ([DigestSize]byte, error) {
	var nonce [DigestSize]byte
	const op = "get ticks"
	body, rc, err := tpmutil.RunCommand(newConn(t), tagRQUCommand, tpmutil.Command(ordGetTicks))
	if err != nil {
		return nonce, fmt.Errorf("%s: %w", op, err)
	}
	if rc != tpmutil.RCSuccess {
		return nonce, wrap(op, RC(rc), nil)
	}
	// TPM_CURRENT_TICKS: tag, currentTicks (u64), tickRate (u16),
	// tickNonce (20 bytes).
	r := tpmwire.NewReader(body)
	if tag := r.U16(); r.Err() == nil && tag != tagCurrentTicks {
		return nonce, fmt.Errorf("%s: TPM_CURRENT_TICKS with tag %#04x", op, tag)
	}
	r.U64()
	r.U16()
	copy(nonce[:], r.Take(DigestSize))
	if err := r.Done(); err != nil {
		return nonce, fmt.Errorf("%s: TPM_CURRENT_TICKS: %w", op, err)
	}
	return nonce, nil
}
