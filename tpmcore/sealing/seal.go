package sealing

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
)

// sealUnder does Seal's work under a loaded SRK; auth authorizes the SRK
// and encrypts the key on its way into the TPM.
func sealUnder(tpm transport.TPM, s *srk, auth tpm2.Session, name string, b Binding, secret []byte) (*Object, error) {
	key, nonce, ciphertext, err := encrypt(name, secret)
	if err != nil {
		return nil, err
	}
	defer wipe(key)
	sel := b.PCRs.Selection()
	// The policy is computed from exactly these values: a PCR that moves
	// after this read leaves an object that does not open until it is
	// back, never one bound to values nobody saw.
	values, err := b.sealedValues(func(sel pcrsel.Selection) ([]PCRValue, error) { return readPCRs(tpm, sel) })
	if err != nil {
		return nil, err
	}
	policy, err := ObjectPolicy(b.AuthKey, sel, values)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: auth},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: key}),
		}},
		InPublic: tpm2.New2B(sealedTemplate(policy)),
	}.Execute(tpm)
	if err != nil {
		return nil, fmt.Errorf("create sealed key: %w", err)
	}
	var authKey []byte
	if b.AuthKey != nil {
		authKey = b.AuthKey.DER
	}
	return &Object{
		Selection:  sel.String(),
		PCRValues:  values,
		AuthKey:    authKey,
		Policy:     policy,
		Parent:     s.name.Buffer,
		Public:     tpm2.Marshal(rsp.OutPublic),
		Private:    tpm2.Marshal(rsp.OutPrivate),
		Nonce:      nonce,
		Ciphertext: ciphertext,
	}, nil
}

// sealedTemplate is the sealed-data object holding the envelope key. It
// never leaves this TPM and parent (fixedTPM, fixedParent). With a policy,
// only the policy opens it (userWithAuth clear); without, the empty auth
// value does. noDA: an empty auth value guards nothing against guessing,
// and failed attempts on it must not count towards locking out the TPM.
func sealedTemplate(policy []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:     true,
			FixedParent:  true,
			NoDA:         true,
			UserWithAuth: len(policy) == 0,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: policy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{}),
	}
}
