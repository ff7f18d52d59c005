package attest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/sealing"
)

// ErrRefused: no EK of this TPM activates the credential for this AK:
// it was made for another key's name, or another TPM's EK.
var ErrRefused = errors.New("credential is not for this attestation key and endorsement key")

// Candidates returns the EKs a credential's encrypted secret may be for,
// by its size: an RSA EK's secret is as long as its modulus, an ECC EK's
// is a point of its curve. Of the profiles with the same key, those in
// have come first (their certificate is in NV), then the low range's
// default, which every TPM can make.
func Candidates(c *Credential, have []EKProfile) []EKProfile {
	match := func(p EKProfile) bool {
		switch p.Template.Type {
		case tpm2.TPMAlgRSA:
			d, err := p.Template.Parameters.RSADetail()
			return err == nil && len(c.Secret) == int(d.KeyBits)/8
		case tpm2.TPMAlgECC:
			d, err := p.Template.Parameters.ECCDetail()
			size := map[tpm2.TPMECCCurve]int{tpm2.TPMECCNistP256: 32, tpm2.TPMECCNistP384: 48, tpm2.TPMECCNistP521: 66}[d.CurveID]
			return err == nil && len(c.Secret) >= 2 && int(binary.BigEndian.Uint16(c.Secret)) == size
		}
		return false
	}
	var out []EKProfile
	seen := map[uint32]bool{}
	for _, p := range have {
		if match(p) && !seen[p.Cert] {
			out, seen[p.Cert] = append(out, p), true
		}
	}
	for _, p := range EKProfiles[:2] { // L-1, L-2
		if match(p) && !seen[p.Cert] {
			out, seen[p.Cert] = append(out, p), true
		}
	}
	return out
}

// Activate releases the secret in credential c, made for k's name and an
// EK of this TPM: ActivateCredential with k loaded under the SRK and the
// EK re-created from each candidate profile in turn, until one opens it
// (ErrRefused when none does). The secret leaves the TPM encrypted, in a
// session salted to the SRK.
func Activate(tpm transport.TPM, ownerAuth []byte, k *Key, c *Credential, candidates []EKProfile) ([]byte, error) {
	if len(candidates) == 0 {
		return nil, fmt.Errorf("activate: %w: no EK of this TPM has a key of the credential's size", ErrRefused)
	}
	var secret []byte
	err := withAK(tpm, ownerAuth, k, func(p sealing.Parent, ak *loaded) error {
		var refusals []error
		for _, prof := range candidates {
			s, err := activateWith(tpm, ownerAuth, p, ak, c, prof)
			if err == nil {
				secret = s
				return nil
			}
			if !refused(err) {
				return err
			}
			refusals = append(refusals, fmt.Errorf("EK %s: %w", prof.Name, err))
		}
		return fmt.Errorf("activate: %w: %w", ErrRefused, errors.Join(refusals...))
	})
	if err != nil {
		return nil, err
	}
	return secret, nil
}

// activateWith tries one EK.
func activateWith(tpm transport.TPM, ownerAuth []byte, p sealing.Parent, ak *loaded, c *Credential, prof EKProfile) ([]byte, error) {
	ek, err := createEK(tpm, ownerAuth, prof)
	if err != nil {
		return nil, err
	}
	sess, err := ekSession(ek.pub)
	if err != nil {
		return nil, errors.Join(err, flush(tpm, ek.Handle))
	}
	rsp, err := tpm2.ActivateCredential{
		ActivateHandle: tpm2.AuthHandle{Handle: ak.Handle, Name: ak.Name, Auth: p.EncryptOut()},
		KeyHandle:      tpm2.AuthHandle{Handle: ek.Handle, Name: ek.Name, Auth: sess},
		CredentialBlob: tpm2.TPM2BIDObject{Buffer: c.IDObject},
		Secret:         tpm2.TPM2BEncryptedSecret{Buffer: c.Secret},
	}.Execute(tpm)
	if ferr := flush(tpm, ek.Handle); err == nil && ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, fmt.Errorf("ActivateCredential: %w", err)
	}
	return rsp.CertInfo.Buffer, nil
}

// refused tells a credential this EK cannot open (its seed does not
// decrypt, its HMAC does not verify: another EK, another name) from a
// TPM that failed.
func refused(err error) bool {
	for _, rc := range []tpm2.TPMRC{tpm2.TPMRCIntegrity, tpm2.TPMRCValue, tpm2.TPMRCSize,
		tpm2.TPMRCECCPoint, tpm2.TPMRCScheme, tpm2.TPMRCKey, tpm2.TPMRCInsufficient} {
		if errors.Is(err, rc) {
			return true
		}
	}
	return false
}
