package attest

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/nv"
)

// ekTemplate is the template p's EK is made from on this TPM: the
// profile's, unless the manufacturer stored a template or (low range) a
// nonce in NV for it (part 2.2.1.5.1).
func ekTemplate(tpm transport.TPM, ownerAuth []byte, p EKProfile) (tpm2.TPMTPublic, error) {
	if b, err := readOptional(tpm, ownerAuth, p.TemplateIndex); err != nil {
		return tpm2.TPMTPublic{}, err
	} else if b != nil {
		t, err := tpm2.Unmarshal[tpm2.TPMTPublic](b)
		if err != nil {
			return tpm2.TPMTPublic{}, fmt.Errorf("EK template in NV 0x%08x: %w", p.TemplateIndex, err)
		}
		return *t, nil
	}
	if b, err := readOptional(tpm, ownerAuth, p.Nonce); err != nil {
		return tpm2.TPMTPublic{}, err
	} else if b != nil {
		return WithNonce(p.Template, b)
	}
	return p.Template, nil
}

// readOptional reads an NV index that may not be defined (nil then).
func readOptional(tpm transport.TPM, ownerAuth []byte, index uint32) ([]byte, error) {
	if index == 0 {
		return nil, nil
	}
	pub, err := nv.ReadPublic(tpm, index)
	if errors.Is(err, tpm2.TPMRCHandle) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return nv.Read(tpm, pub, pub.PublicReadAuth(), ownerAuth, nvChunk)
}

// nvChunk is small enough for any TPM's NV buffer (at least 512 bytes
// by the PC Client profile) and large enough for a template in one read.
const nvChunk = 512

// ek is a loaded endorsement key.
type ek struct {
	tpm2.NamedHandle
	pub tpm2.TPMTPublic
}

// createEK makes p's EK in the endorsement hierarchy (its auth value
// taken as empty, as shipped); the caller flushes it.
func createEK(tpm transport.TPM, ownerAuth []byte, p EKProfile) (*ek, error) {
	tmpl, err := ekTemplate(tpm, ownerAuth, p)
	if err != nil {
		return nil, fmt.Errorf("EK %s: %w", p.Name, err)
	}
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tmpl),
	}.Execute(tpm)
	if err != nil {
		return nil, fmt.Errorf("create EK %s: %w", p.Name, err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create EK %s: %w", p.Name, err), flush(tpm, rsp.ObjectHandle))
	}
	return &ek{NamedHandle: tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}, pub: *pub}, nil
}

// EKPublicPEM re-creates p's EK and returns its public key in PEM.
func EKPublicPEM(tpm transport.TPM, ownerAuth []byte, p EKProfile) ([]byte, error) {
	k, err := createEK(tpm, ownerAuth, p)
	if err != nil {
		return nil, err
	}
	pemBytes, err := PublicPEM(&k.pub)
	return pemBytes, errors.Join(err, flush(tpm, k.Handle))
}

// ekSession satisfies an EK's policy: PolicySecret(TPM_RH_ENDORSEMENT),
// the low range's PolicyA, then for the high range the PolicyOR with
// PolicyC that makes PolicyB, in a session of the EK's name algorithm.
func ekSession(pub tpm2.TPMTPublic) (tpm2.Session, error) {
	alg := pub.NameAlg
	high := bytes.Equal(pub.AuthPolicy.Buffer, policyB[alg])
	var branches []tpm2.TPM2BDigest
	if high {
		a, err := policyA(alg)
		if err != nil {
			return nil, err
		}
		branches = []tpm2.TPM2BDigest{{Buffer: a}, {Buffer: policyC[alg]}}
	} else if !bytes.Equal(pub.AuthPolicy.Buffer, policyASHA256) {
		return nil, fmt.Errorf("EK with a policy of its own (%x): not one of the profile's", pub.AuthPolicy.Buffer)
	}
	return tpm2.Policy(alg, 16, func(t transport.TPM, h tpm2.TPMISHPolicy, nonceTPM tpm2.TPM2BNonce) error {
		_, err := tpm2.PolicySecret{
			AuthHandle:    tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
			PolicySession: h,
			NonceTPM:      nonceTPM,
		}.Execute(t)
		if err == nil && high {
			_, err = tpm2.PolicyOr{PolicySession: h, PHashList: tpm2.TPMLDigest{Digests: branches}}.Execute(t)
		}
		if err != nil {
			// go-tpm flushes a just-in-time session only when the
			// command it authorises fails, not when its policy does.
			return errors.Join(fmt.Errorf("EK policy: %w", err), flush(t, h))
		}
		return nil
	}), nil
}

// policyA is PolicySecret(TPM_RH_ENDORSEMENT) computed with alg.
func policyA(alg tpm2.TPMIAlgHash) ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(alg)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicySecret{AuthHandle: tpm2.TPMRHEndorsement}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}
