package sealing

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
)

// Signed PCR policies (TPM 2.0): a key sealed with an AuthKey opens after
// PolicyPCR over the PCRs of a policy the key signed, VerifySignature of
// that signature, and PolicyAuthorize, as systemd unseals for unified
// kernel images.

// errPCRsMoved: the PCRs changed between reading them to choose a signed
// policy and PolicyPCR; the unseal starts over.
var errPCRsMoved = errors.New("PCRs changed while the signed policy was checked")

// keyPublic is the TPM public area of an authkey as systemd loads it
// (LoadExternal in the owner hierarchy): named with SHA-256; decrypt,
// sign and userWithAuth; no scheme, so that the signature names its own;
// an RSA exponent written out. The key's TPM name, and so every policy
// it authorizes, is the one systemd computes for the same key.
func keyPublic(k *pcrsig.Key) (tpm2.TPMTPublic, error) {
	attrs := tpm2.TPMAObject{Decrypt: true, SignEncrypt: true, UserWithAuth: true}
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		return tpm2.TPMTPublic{
			Type: tpm2.TPMAlgRSA, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: attrs,
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
				Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
				Scheme:    tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
				KeyBits:   tpm2.TPMKeyBits(pub.N.BitLen()),
				Exponent:  uint32(pub.E),
			}),
			Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: pub.N.Bytes()}),
		}, nil
	case *ecdsa.PublicKey:
		return tpm2.TPMTPublic{
			Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: attrs,
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
				Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
				Scheme:    tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
				CurveID:   tpm2.TPMECCNistP256,
				KDF:       tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
			}),
			Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
				X: tpm2.TPM2BECCParameter{Buffer: pub.X.FillBytes(make([]byte, 32))},
				Y: tpm2.TPM2BECCParameter{Buffer: pub.Y.FillBytes(make([]byte, 32))},
			}),
		}, nil
	}
	return tpm2.TPMTPublic{}, fmt.Errorf("authkey: unsupported key %T", k.Public)
}

// keyName is the TPM name of an authkey.
func keyName(k *pcrsig.Key) (tpm2.TPM2BName, error) {
	pub, err := keyPublic(k)
	if err != nil {
		return tpm2.TPM2BName{}, err
	}
	name, err := tpm2.ObjectName(&pub)
	if err != nil {
		return tpm2.TPM2BName{}, fmt.Errorf("authkey name: %w", err)
	}
	return *name, nil
}

// Usable reports whether the TPM can take p as an authorization of a key
// sealed with an AuthKey: PolicyAuthorize checks a signature over the
// SHA-256 of the approved policy (the key's name algorithm, with an empty
// policyRef), and systemd signs the policies of each bank with that
// bank's hash, so only the sha256 bank's policies qualify.
func Usable(p pcrsig.Policy) bool { return p.Bank == pcrsel.SHA256 }

// tpmSignature is sig, as OpenSSL made it over SHA-256 (PKCS#1 v1.5, or
// ECDSA's DER pair), in the TPM's form.
func tpmSignature(k *pcrsig.Key, sig []byte) (tpm2.TPMTSignature, error) {
	switch k.Public.(type) {
	case *rsa.PublicKey:
		return tpm2.TPMTSignature{
			SigAlg: tpm2.TPMAlgRSASSA,
			Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgRSASSA, &tpm2.TPMSSignatureRSA{
				Hash: tpm2.TPMAlgSHA256, Sig: tpm2.TPM2BPublicKeyRSA{Buffer: sig},
			}),
		}, nil
	case *ecdsa.PublicKey:
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 ||
			rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
			return tpm2.TPMTSignature{}, fmt.Errorf("%w: ECDSA signature is not a DER (r, s)", ErrCorrupt)
		}
		return tpm2.TPMTSignature{
			SigAlg: tpm2.TPMAlgECDSA,
			Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgECDSA, &tpm2.TPMSSignatureECC{
				Hash:       tpm2.TPMAlgSHA256,
				SignatureR: tpm2.TPM2BECCParameter{Buffer: rs.R.FillBytes(make([]byte, 32))},
				SignatureS: tpm2.TPM2BECCParameter{Buffer: rs.S.FillBytes(make([]byte, 32))},
			}),
		}, nil
	}
	return tpm2.TPMTSignature{}, fmt.Errorf("authkey: unsupported key %T", k.Public)
}

// approval is a signed policy whose signature the TPM has verified:
// what PolicyAuthorize takes.
type approval struct {
	pcrs   pcrsel.Selection
	policy []byte
	key    tpm2.TPM2BName
	ticket tpm2.TPMTTKVerified
}

// matching returns the usable policies of sigs that the PCRs' current
// values now satisfy, and those values (of every PCR a usable policy
// covers, in selection order).
func matching(tpm transport.TPM, sigs *pcrsig.Set) (match []pcrsig.Policy, now []PCRValue, err error) {
	var usable []pcrsig.Policy
	var union pcrsel.Selection
	if sigs != nil {
		for _, p := range sigs.Policies {
			if Usable(p) {
				usable = append(usable, p)
				union, _ = pcrsel.Of(append(union.PCRs(), p.PCRs.PCRs()...)...)
			}
		}
	}
	if len(usable) == 0 {
		return nil, nil, nil
	}
	if now, err = readPCRs(tpm, union); err != nil {
		return nil, nil, err
	}
	for _, p := range usable {
		if d, err := PolicyDigest(p.PCRs, pick(now, p.PCRs)); err == nil && bytes.Equal(d, p.Digest) {
			match = append(match, p)
		}
	}
	return match, now, nil
}

// pick returns the values of sel's PCRs from vals, in selection order.
func pick(vals []PCRValue, sel pcrsel.Selection) []PCRValue {
	var out []PCRValue
	for _, v := range vals {
		if b, ok := pcrsel.BankByName(v.Bank); ok && sel.Has(pcrsel.PCR{Bank: b, Index: v.Index}) {
			out = append(out, v)
		}
	}
	return out
}

// approve finds a signed policy of sigs that the PCRs satisfy now and
// has the TPM verify its signature by key. None: ErrPolicy, with the
// PCRs' current values.
func approve(tpm transport.TPM, key *pcrsig.Key, sigs *pcrsig.Set) (*approval, error) {
	match, now, err := matching(tpm, sigs)
	if err != nil {
		return nil, err
	}
	if len(match) == 0 {
		return nil, &PolicyError{Signed: true, Unsigned: now}
	}
	p := match[0]
	pub, err := keyPublic(key)
	if err != nil {
		return nil, err
	}
	sig, err := tpmSignature(key, p.Sig)
	if err != nil {
		return nil, err
	}
	// The owner hierarchy: a key of the null hierarchy gets a null
	// ticket, which PolicyAuthorize refuses.
	rsp, err := tpm2.LoadExternal{InPublic: tpm2.New2B(pub), Hierarchy: tpm2.TPMRHOwner}.Execute(tpm)
	if err != nil {
		return nil, fmt.Errorf("load authkey: %w", err)
	}
	approved := sha256.Sum256(p.Digest)
	v, err := tpm2.VerifySignature{
		KeyHandle: tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name},
		Digest:    tpm2.TPM2BDigest{Buffer: approved[:]},
		Signature: sig,
	}.Execute(tpm)
	if errors.Is(err, tpm2.TPMRCSignature) {
		// Checked in software when pcrsig was written: a refusal here
		// means the stored signature was altered.
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err = errors.Join(err, flush(tpm, rsp.ObjectHandle)); err != nil {
		return nil, fmt.Errorf("verify signed policy %x: %w", p.Digest, err)
	}
	return &approval{pcrs: p.PCRs, policy: p.Digest, key: rsp.Name, ticket: v.Validation}, nil
}

// objectPolicy is the policy callback that satisfies a sealed key's
// policy: with an approval, PolicyPCR over its PCRs and PolicyAuthorize;
// then PolicyPCR over sel, if not empty. The TPM fills in the PCRs'
// current values.
func objectPolicy(a *approval, sel pcrsel.Selection) tpm2.PolicyCallback {
	return func(tpm transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
		// go-tpm flushes a just-in-time session only when the command it
		// authorizes fails, not when its policy does.
		fail := func(err error) error { return errors.Join(err, flush(tpm, h)) }
		if a != nil {
			if _, err := (tpm2.PolicyPCR{PolicySession: h, Pcrs: a.pcrs.TPML()}).Execute(tpm); err != nil {
				return fail(fmt.Errorf("policy PCR %s: %w", a.pcrs, err))
			}
			_, err := tpm2.PolicyAuthorize{
				PolicySession:  h,
				ApprovedPolicy: tpm2.TPM2BDigest{Buffer: a.policy},
				KeySign:        a.key,
				CheckTicket:    a.ticket,
			}.Execute(tpm)
			if errors.Is(err, tpm2.TPMRCValue) {
				// The session's digest is not the approved policy:
				// the PCRs moved since they were read.
				return fail(fmt.Errorf("policy authorize: %w: %w", errPCRsMoved, err))
			}
			if err != nil {
				return fail(fmt.Errorf("policy authorize: %w", err))
			}
		}
		if !sel.IsEmpty() {
			if _, err := (tpm2.PolicyPCR{PolicySession: h, Pcrs: sel.TPML()}).Execute(tpm); err != nil {
				return fail(fmt.Errorf("policy PCR: %w", err))
			}
		}
		return nil
	}
}
