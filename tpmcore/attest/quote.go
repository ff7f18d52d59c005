package attest

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/sealing"
)

// MaxNonce is the longest nonce (qualifying data) a quote takes: a
// TPM2B_DATA holds a TPMT_HA, a hash algorithm and a SHA-512 digest.
const MaxNonce = 64

// maxQuoteTries bounds how often a quote is made again because the PCRs
// moved between reading them and quoting them.
const maxQuoteTries = 8

// ErrPCRsMoving: the PCRs kept changing between reading and quoting.
var ErrPCRsMoving = errors.New("PCRs kept changing while they were quoted")

// ErrNoPCRs: a quote of no PCR at all.
var ErrNoPCRs = errors.New("quote of an empty PCR selection")

// Quote is a signed quote and the PCR values it covers: what
// tpm2_quote writes to -m, -s and -o.
type Quote struct {
	// Attest is the TPMS_ATTEST the TPM signed (tpm2_quote -m).
	Attest []byte
	// Signature is the TPMT_SIGNATURE over it (tpm2_quote -s).
	Signature []byte
	// Selection and Values are the PCRs quoted and their values, in
	// Selection.PCRs() order; their digest is the one in Attest.
	Selection pcrsel.Selection
	Values    []sealing.PCRValue
	// Nonce is the qualifying data, Attest's extraData.
	Nonce []byte
}

// QuotePCRs quotes the PCRs of sel with nonce under k: it reads their
// values and quotes them, and does both again while the quote's digest
// differs from the values read (a PCR extended in between), so the
// values returned are the quoted ones.
func QuotePCRs(tpm transport.TPM, ownerAuth []byte, k *Key, sel pcrsel.Selection, nonce []byte) (*Quote, error) {
	if sel.IsEmpty() {
		return nil, ErrNoPCRs
	}
	if len(nonce) > MaxNonce {
		return nil, fmt.Errorf("quote: nonce of %d bytes, at most %d", len(nonce), MaxNonce)
	}
	var q *Quote
	err := withAK(tpm, ownerAuth, k, func(_ sealing.Parent, ak *loaded) error {
		for try := 0; try < maxQuoteTries; try++ {
			values, err := sealing.ReadPCRs(tpm, sel)
			if err != nil {
				return fmt.Errorf("quote: %w", err)
			}
			rsp, err := tpm2.Quote{
				SignHandle:     tpm2.AuthHandle{Handle: ak.Handle, Name: ak.Name, Auth: tpm2.PasswordAuth(nil)},
				QualifyingData: tpm2.TPM2BData{Buffer: nonce},
				InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
				PCRSelect:      sel.TPML(),
			}.Execute(tpm)
			if err != nil {
				return fmt.Errorf("quote: %w", err)
			}
			attest := rsp.Quoted.Bytes()
			match, err := quotes(attest, values, nonce)
			if err != nil {
				return fmt.Errorf("quote: %w", err)
			}
			if match {
				q = &Quote{Attest: attest, Signature: tpm2.Marshal(rsp.Signature), Selection: sel, Values: values, Nonce: nonce}
				return nil
			}
		}
		return fmt.Errorf("quote %s: %w (%d tries)", sel, ErrPCRsMoving, maxQuoteTries)
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// quotes reports whether attest is a quote of exactly values with
// nonce: its PCR digest is the hash of the values concatenated.
func quotes(attest []byte, values []sealing.PCRValue, nonce []byte) (bool, error) {
	a, err := tpm2.Unmarshal[tpm2.TPMSAttest](attest)
	if err != nil {
		return false, fmt.Errorf("TPM's attestation: %w", err)
	}
	info, err := a.Attested.Quote()
	if err != nil || a.Type != tpm2.TPMSTAttestQuote {
		return false, fmt.Errorf("TPM's attestation is not a quote")
	}
	if !bytes.Equal(a.ExtraData.Buffer, nonce) {
		return false, fmt.Errorf("TPM's quote carries another nonce")
	}
	h, err := signHash.Hash()
	if err != nil {
		return false, err
	}
	d := h.New()
	for _, v := range values {
		d.Write(v.Digest)
	}
	return bytes.Equal(d.Sum(nil), info.PCRDigest.Buffer), nil
}
