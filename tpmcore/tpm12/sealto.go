package tpm12

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"
)

// TPM_Seal to given PCR values. go-tpm's Seal binds a blob to the values
// the PCRs have now, and its Reseal, which takes values, concatenates them
// in map order, so a blob bound to two or more given values would carry a
// digest no PCR state ever has. This file sends TPM_Seal itself (TPM Main
// Part 3, section 10.1), packed by tpmutil, in an OSAP session on the SRK
// as go-tpm does, so that UnsealKey (go-tpm's Unseal) opens its blobs.

// Ordinals, entity and key handle, tag (TPM Main Part 2).
const (
	ordOSAP            uint32      = 0x0000000B
	ordSeal            uint32      = 0x00000017
	etSRK              uint16      = 0x0004     // TPM_ET_SRK
	khSRK              uint32      = 0x40000000 // TPM_KH_SRK
	tagRQUAuth1Command tpmutil.Tag = 0x00C2
	// allLocalityBits (TPM_LOC_ZERO..TPM_LOC_FOUR) releases a blob at any
	// locality: the binding is to PCR values, and Linux user space is at
	// locality 0 anyway.
	allLocalityBits uint8 = 0x1F
)

// pcrSelection and pcrInfoLong are TPM_PCR_SELECTION (with the 3-byte
// bitmap of a PC client TPM) and TPM_PCR_INFO_LONG.
type pcrSelection struct {
	Size uint16
	Mask [MaxPCRs / 8]byte
}

type pcrInfoLong struct {
	Tag                           uint16
	LocAtCreation, LocAtRelease   uint8
	AtCreation, AtRelease         pcrSelection
	DigestAtCreation, DigestAtRel [DigestSize]byte
}

// osap is an OSAP session on the SRK and its shared secret.
type osap struct {
	handle    uint32
	nonceEven [DigestSize]byte
	shared    [DigestSize]byte
}

// startOSAP opens an OSAP session for the SRK (TPM_OSAP).
func startOSAP(c *conn, srkAuth [DigestSize]byte) (*osap, error) {
	var oddOSAP [DigestSize]byte
	if _, err := rand.Read(oddOSAP[:]); err != nil {
		return nil, err
	}
	body, rc, err := tpmutil.RunCommand(c, tagRQUCommand, tpmutil.Command(ordOSAP), etSRK, khSRK, oddOSAP)
	if err != nil || rc != tpmutil.RCSuccess {
		return nil, fmt.Errorf("OSAP: %w", refused(err))
	}
	var s osap
	var evenOSAP [DigestSize]byte
	if _, err := tpmutil.Unpack(body, &s.handle, &s.nonceEven, &evenOSAP); err != nil {
		return nil, fmt.Errorf("OSAP answer: %w", err)
	}
	// sharedSecret = HMAC-SHA1(srkAuth, nonceEvenOSAP || nonceOddOSAP)
	m := hmac.New(sha1.New, srkAuth[:])
	m.Write(evenOSAP[:])
	m.Write(oddOSAP[:])
	copy(s.shared[:], m.Sum(nil))
	return &s, nil
}

// refused is err, or for a command the TPM refused, an error that leaves
// the response code to conn.first (which conn.fail classifies).
func refused(err error) error {
	if err != nil {
		return err
	}
	return errors.New("refused")
}

// sealTo seals key under the SRK with a PCR_INFO_LONG releasing it when
// the PCRs selected by mask have the composite digest release; the blob's
// own secret is srkAuth, as go-tpm's Seal makes it.
func sealTo(t transport.TPM, c *conn, srkAuth [DigestSize]byte, mask [MaxPCRs / 8]byte, release [DigestSize]byte, key []byte) ([]byte, error) {
	s, err := startOSAP(c, srkAuth)
	if err != nil {
		return nil, err
	}
	defer clear(s.shared[:])
	// The TPM ends the session with the Seal (continueAuthSession is
	// false); this flush ends it when the Seal never got there.
	defer FlushSession(t, s.handle)

	// encAuth = dataAuth XOR SHA-1(sharedSecret || nonceEven)
	pad := sha1.Sum(append(s.shared[:], s.nonceEven[:]...))
	var encAuth [DigestSize]byte
	for i := range encAuth {
		encAuth[i] = srkAuth[i] ^ pad[i]
	}
	sel := pcrSelection{Size: MaxPCRs / 8, Mask: mask}
	info := pcrInfoLong{
		Tag:           tagPCRInfoLong,
		LocAtCreation: allLocalityBits, LocAtRelease: allLocalityBits,
		AtCreation: sel, AtRelease: sel,
		// The TPM fills in the creation digest itself.
		DigestAtCreation: release, DigestAtRel: release,
	}
	infoBytes, err := tpmutil.Pack(info)
	if err != nil {
		return nil, err
	}
	params, err := tpmutil.Pack(ordSeal, encAuth, tpmutil.U32Bytes(infoBytes), tpmutil.U32Bytes(key))
	if err != nil {
		return nil, err
	}
	var nonceOdd [DigestSize]byte
	if _, err := rand.Read(nonceOdd[:]); err != nil {
		return nil, err
	}
	const continueSession = 0
	auth := authHMAC(s.shared, params, s.nonceEven, nonceOdd, continueSession)
	body, rc, err := tpmutil.RunCommand(c, tagRQUAuth1Command, tpmutil.Command(ordSeal),
		khSRK, encAuth, tpmutil.U32Bytes(infoBytes), tpmutil.U32Bytes(key),
		s.handle, nonceOdd, uint8(continueSession), auth)
	if err != nil || rc != tpmutil.RCSuccess {
		return nil, fmt.Errorf("TPM_Seal: %w", refused(err))
	}
	// The answer: TPM_STORED_DATA12, then nonceEven, continueAuthSession
	// and resAuth, which proves the TPM that knows the SRK secret sent it.
	const trailer = DigestSize + 1 + DigestSize
	if len(body) <= trailer {
		return nil, fmt.Errorf("TPM_Seal answer of %d bytes", len(body))
	}
	blob, tr := body[:len(body)-trailer], body[len(body)-trailer:]
	var nonceEven [DigestSize]byte
	copy(nonceEven[:], tr)
	cont, resAuth := tr[DigestSize], tr[DigestSize+1:]
	out, err := tpmutil.Pack(uint32(0), ordSeal, tpmutil.RawBytes(blob))
	if err != nil {
		return nil, err
	}
	if want := authHMAC(s.shared, out, nonceEven, nonceOdd, cont); !hmac.Equal(resAuth, want[:]) {
		return nil, errors.New("TPM_Seal answer does not authenticate")
	}
	return append([]byte(nil), blob...), nil
}

// authHMAC is a TPM 1.2 authorization: HMAC-SHA1(key, SHA-1(params) ||
// nonceEven || nonceOdd || continueAuthSession).
func authHMAC(key [DigestSize]byte, params []byte, nonceEven, nonceOdd [DigestSize]byte, cont uint8) [DigestSize]byte {
	d := sha1.Sum(params)
	m := hmac.New(sha1.New, key[:])
	m.Write(d[:])
	m.Write(nonceEven[:])
	m.Write(nonceOdd[:])
	m.Write([]byte{cont})
	var out [DigestSize]byte
	copy(out[:], m.Sum(nil))
	return out
}
