package attest

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// EKProfile is one EK of the TCG EK Credential Profile for TPM 2.0: the
// NV index of its certificate and the template that re-creates the key
// it certifies (part 2.2.1.5 and annex B).
type EKProfile struct {
	// Name names its files: NAME.crt and NAME.pub.pem.
	Name string
	// Cert is the NV index of the certificate.
	Cert uint32
	// Template is the profile's default template (L-1, L-2, H-1...).
	Template tpm2.TPMTPublic
	// Nonce and TemplateIndex are the NV indices that, when the
	// manufacturer defined them, change the template: a nonce for the
	// unique field (low range only), or a whole template. 0: none.
	Nonce, TemplateIndex uint32
}

// Policy digests of the profile (annex B.3 and B.6): PolicyA is
// TPM2_PolicySecret(TPM_RH_ENDORSEMENT), what the low range's EKs
// require; PolicyB is PolicyOR(PolicyA, PolicyC), the high range's, where
// PolicyC is a PolicyAuthorizeNV on the TCG's policy index.
var (
	policyASHA256 = mustHex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")
	policyB       = map[tpm2.TPMIAlgHash][]byte{
		tpm2.TPMAlgSHA256: mustHex("ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0"),
		tpm2.TPMAlgSHA384: mustHex("b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4cb1c0ad9bde419cacb47ba09699646150f9fc000f3f80e12"),
		tpm2.TPMAlgSHA512: mustHex("b8221ca69e8550a4914de3faa6a18c072cc01208073a928d5d66d59ef79e49a429c41a6b269571d57edb25fbdb1838425608b413cd616a5f6db5b6071af99bea"),
	}
	policyC = map[tpm2.TPMIAlgHash][]byte{
		tpm2.TPMAlgSHA256: mustHex("3767e2edd43ff45a3a7e1eaefcef78643dca964632e7aad82c673a30d8633fde"),
		tpm2.TPMAlgSHA384: mustHex("d6032ce61f2fb3c240eb3cf6a33237ef2b6a16f4293c22b455e261cffd217ad5b4947c2d73e63005eed2dc2b3593d165"),
		tpm2.TPMAlgSHA512: mustHex("589ee1e146544716e8deafe6db247b01b81e9f9c7dd16b814aa159138749105fba5388dd1dea702f35240c184933121e2c61b8f50d3ef91393a49a38c3f73fc8"),
	}
)

// EKProfiles lists the EKs tpmfs knows, in the order ek/ shows them.
// (H-5, SM2 P-256, is left out: Go has neither SM2 nor SM3.)
var EKProfiles = []EKProfile{
	{Name: "rsa2048", Cert: 0x01c00002, Nonce: 0x01c00003, TemplateIndex: 0x01c00004, Template: tpm2.RSAEKTemplate},
	{Name: "ecc-nistp256", Cert: 0x01c0000a, Nonce: 0x01c0000b, TemplateIndex: 0x01c0000c, Template: tpm2.ECCEKTemplate},
	{Name: "rsa2048-h", Cert: 0x01c00012, TemplateIndex: 0x01c00013, Template: highRSA(2048, tpm2.TPMAlgSHA256)},
	{Name: "ecc-nistp256-h", Cert: 0x01c00014, TemplateIndex: 0x01c00015, Template: highECC(tpm2.TPMECCNistP256, tpm2.TPMAlgSHA256)},
	{Name: "ecc-nistp384", Cert: 0x01c00016, TemplateIndex: 0x01c00017, Template: highECC(tpm2.TPMECCNistP384, tpm2.TPMAlgSHA384)},
	{Name: "ecc-nistp521", Cert: 0x01c00018, TemplateIndex: 0x01c00019, Template: highECC(tpm2.TPMECCNistP521, tpm2.TPMAlgSHA512)},
	{Name: "rsa3072", Cert: 0x01c0001c, TemplateIndex: 0x01c0001d, Template: highRSA(3072, tpm2.TPMAlgSHA384)},
	{Name: "rsa4096", Cert: 0x01c0001e, TemplateIndex: 0x01c0001f, Template: highRSA(4096, tpm2.TPMAlgSHA384)},
}

// EKCertRange is where the profile's certificates live.
const (
	EKCertFirst uint32 = 0x01c00000
	EKCertLast  uint32 = 0x01c0001f
)

// EKProfileFor returns the profile whose certificate is at index.
func EKProfileFor(index uint32) (EKProfile, bool) {
	for _, p := range EKProfiles {
		if p.Cert == index {
			return p, true
		}
	}
	return EKProfile{}, false
}

// highAttributes are the high range's: the low range's plus
// userWithAuth (annex B.4).
var highAttributes = tpm2.TPMAObject{
	FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true,
	AdminWithPolicy: true, Restricted: true, Decrypt: true,
}

// highSymmetric is AES-128-CFB with SHA-256 as name algorithm, else
// AES-256-CFB.
func highSymmetric(nameAlg tpm2.TPMIAlgHash) tpm2.TPMTSymDefObject {
	bits := tpm2.TPMKeyBits(256)
	if nameAlg == tpm2.TPMAlgSHA256 {
		bits = 128
	}
	return tpm2.TPMTSymDefObject{
		Algorithm: tpm2.TPMAlgAES,
		KeyBits:   tpm2.NewTPMUSymKeyBits(tpm2.TPMAlgAES, bits),
		Mode:      tpm2.NewTPMUSymMode(tpm2.TPMAlgAES, tpm2.TPMAlgCFB),
	}
}

// highRSA is template H-1, H-6 or H-7: an empty unique field.
func highRSA(bits tpm2.TPMKeyBits, nameAlg tpm2.TPMIAlgHash) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgRSA, NameAlg: nameAlg, ObjectAttributes: highAttributes,
		AuthPolicy: tpm2.TPM2BDigest{Buffer: policyB[nameAlg]},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: highSymmetric(nameAlg), KeyBits: bits,
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{}),
	}
}

// highECC is template H-2, H-3 or H-4: an empty unique field.
func highECC(curve tpm2.TPMECCCurve, nameAlg tpm2.TPMIAlgHash) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgECC, NameAlg: nameAlg, ObjectAttributes: highAttributes,
		AuthPolicy: tpm2.TPM2BDigest{Buffer: policyB[nameAlg]},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: highSymmetric(nameAlg), CurveID: curve,
			Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
			KDF:    tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{}),
	}
}

// WithNonce returns the low-range template with the manufacturer's nonce
// in its unique field, padded with zeros (annex B.3.4 and B.3.5): into
// the RSA modulus, or the ECC point's x (y stays zero).
func WithNonce(tmpl tpm2.TPMTPublic, nonce []byte) (tpm2.TPMTPublic, error) {
	switch tmpl.Type {
	case tpm2.TPMAlgRSA:
		u, err := tmpl.Unique.RSA()
		if err != nil || len(nonce) > len(u.Buffer) {
			return tmpl, fmt.Errorf("EK nonce of %d bytes for an RSA template", len(nonce))
		}
		b := make([]byte, len(u.Buffer))
		copy(b, nonce)
		tmpl.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: b})
	case tpm2.TPMAlgECC:
		u, err := tmpl.Unique.ECC()
		if err != nil || len(nonce) > len(u.X.Buffer) {
			return tmpl, fmt.Errorf("EK nonce of %d bytes for an ECC template", len(nonce))
		}
		x := make([]byte, len(u.X.Buffer))
		copy(x, nonce)
		tmpl.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: x}, Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, len(u.Y.Buffer))},
		})
	default:
		return tmpl, fmt.Errorf("EK template of type %v", tmpl.Type)
	}
	return tmpl, nil
}
