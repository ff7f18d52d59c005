package sealing

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
)

// PolicyDigest returns the SHA-256 policy digest of TPM2_PolicyPCR over sel
// with the given PCR values, as tpm2_createpolicy --policy-pcr -l
// sel.String() computes it when the PCRs hold those values (or, with -f,
// is given them). values must list sel.PCRs() in that order. The empty
// selection has no policy (nil).
func PolicyDigest(sel pcrsel.Selection, values []PCRValue) ([]byte, error) {
	return ObjectPolicy(nil, sel, values)
}

// ObjectPolicy returns the policy digest of a sealed key bound to the PCRs
// of sel holding values (in sel.PCRs() order) and, with key, to the PCR
// policies key signs: PolicyAuthorize by key, then PolicyPCR over sel if
// it is not empty. This is the order systemd uses, so that the digest is
// systemd-cryptenroll's for the same key and PCRs. Without key and PCRs
// there is no policy (nil).
func ObjectPolicy(key *pcrsig.Key, sel pcrsel.Selection, values []PCRValue) ([]byte, error) {
	pcrs := sel.PCRs()
	if len(values) != len(pcrs) {
		return nil, fmt.Errorf("policy digest: %d PCR values for %d PCRs in %q", len(values), len(pcrs), sel)
	}
	if sel.IsEmpty() && key == nil {
		return nil, nil
	}
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, fmt.Errorf("policy digest: %w", err)
	}
	if key != nil {
		name, err := keyName(key)
		if err != nil {
			return nil, fmt.Errorf("policy digest: %w", err)
		}
		// An empty policyRef, as systemd's.
		if err := (tpm2.PolicyAuthorize{KeySign: name}).Update(calc); err != nil {
			return nil, fmt.Errorf("policy digest: %w", err)
		}
	}
	if !sel.IsEmpty() {
		// The TPM checks the hash of the PCR values concatenated in
		// selection order, using the session's hash whatever the banks.
		h := sha256.New()
		for i, p := range pcrs {
			v := values[i]
			if v.Bank != p.Bank.Name || v.Index != p.Index || len(v.Digest) != p.Bank.Size {
				return nil, fmt.Errorf("policy digest: value %d is %s with %d bytes, want %s with %d",
					i, v, len(v.Digest), p, p.Bank.Size)
			}
			h.Write(v.Digest)
		}
		cmd := tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)}, Pcrs: sel.TPML()}
		if err := cmd.Update(calc); err != nil {
			return nil, fmt.Errorf("policy digest: %w", err)
		}
	}
	return calc.Hash().Digest, nil
}

// checkPolicy verifies that obj's policy fields agree with each other and
// with the TPM object's, so that an altered object fails as ErrCorrupt
// rather than as a misleading policy failure.
func checkPolicy(sel pcrsel.Selection, key *pcrsig.Key, obj *Object, pub *tpm2.TPMTPublic) error {
	want, err := ObjectPolicy(key, sel, obj.PCRValues)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if !bytes.Equal(want, obj.Policy) || !bytes.Equal(want, pub.AuthPolicy.Buffer) {
		return fmt.Errorf("%w: policy digest does not match PCR values and authkey", ErrCorrupt)
	}
	if pub.ObjectAttributes.UserWithAuth != (len(want) == 0) {
		return fmt.Errorf("%w: userWithAuth does not match the policy", ErrCorrupt)
	}
	return nil
}
