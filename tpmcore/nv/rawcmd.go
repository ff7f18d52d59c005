package nv

import (
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
)

// passwordCommand sends one of the NV commands go-tpm has no type for
// (NV_Extend, NV_SetBits: both take authHandle and nvIndex, then their
// parameters) authorised by a password session, which needs no HMAC:
// header, the two handles, the session, params (Part 1, 18.6).
func passwordCommand(t transport.TPM, cc tpm2.TPMCC, p Public, a Auth, ownerAuth []byte, params []byte) error {
	auth, err := authHandle(p, a, ownerAuth)
	if err != nil {
		return fmt.Errorf("%v: %w", cc, err)
	}
	secret := []byte(nil)
	if a == Owner {
		secret = ownerAuth
	}
	cmd := tpmwire.Header{Tag: uint16(tpm2.TPMSTSessions), Code: uint32(cc)}.Append(nil)
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(auth.Handle))
	cmd = binary.BigEndian.AppendUint32(cmd, p.Index)
	session := binary.BigEndian.AppendUint32(nil, uint32(tpm2.TPMRSPW))
	session = binary.BigEndian.AppendUint16(session, 0) // nonceCaller
	session = append(session, 0)                        // sessionAttributes
	session = binary.BigEndian.AppendUint16(session, uint16(len(secret)))
	session = append(session, secret...)
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(len(session)))
	cmd = append(cmd, session...)
	cmd = append(cmd, params...)
	tpmwire.SetSize(cmd)
	rsp, err := t.Send(cmd)
	if err != nil {
		return fmt.Errorf("%v 0x%08x: %w", cc, p.Index, err)
	}
	h, ok := tpmwire.ParseHeader(rsp)
	if !ok {
		return fmt.Errorf("%v 0x%08x: short response", cc, p.Index)
	}
	if h.Code != 0 {
		return fmt.Errorf("%v 0x%08x: %w", cc, p.Index, tpm2.TPMRC(h.Code))
	}
	return nil
}
