package latency

import (
	"tpmfs/internal/tpmwire"
)

// Command codes, algorithms and tags the variants are read from (Part 2).
const (
	ccStartAuthSession = 0x176
	ccCreatePrimary    = 0x131
	ccCreate           = 0x153
	ccCreateLoaded     = 0x191
	ccSign             = 0x15D
	ccQuote            = 0x158

	stSessions = 0x8002

	algRSA       = 0x0001
	algKeyedHash = 0x0008
	algECC       = 0x0023
	algRSASSA    = 0x0014
	algRSAPSS    = 0x0016
	algNull      = 0x0010
	algECDSA     = 0x0018
	algECDAA     = 0x001A
	algSM2       = 0x001B
	algECSchnorr = 0x001C
)

// Variant names what a command costs beyond its code: "unsalted",
// "ecc-salted" or "rsa-salted" for StartAuthSession; "ecc", "rsa" or
// "sealed" (a keyed-hash object) for CreatePrimary, Create and
// CreateLoaded; "ecc" or "rsa" for Sign and Quote; "*" for everything
// else, and for commands too short to tell.
func Variant(cmd []byte) string {
	h, ok := tpmwire.ParseHeader(cmd)
	if !ok {
		return "*"
	}
	r := tpmwire.NewReader(cmd[tpmwire.HeaderSize:])
	var v string
	switch h.Code {
	case ccStartAuthSession:
		r.Take(8) // tpmKey, bind
		skipAuth(&r, h.Tag)
		r.Take(int(r.U16())) // nonceCaller
		v = saltVariant(int(r.U16()))
	case ccCreatePrimary, ccCreate, ccCreateLoaded:
		r.Take(4) // the parent or hierarchy
		skipAuth(&r, h.Tag)
		r.Take(int(r.U16())) // inSensitive
		r.U16()              // inPublic's size
		v = objectVariant(r.U16())
	case ccSign, ccQuote:
		r.Take(4) // the signing key
		skipAuth(&r, h.Tag)
		r.Take(int(r.U16())) // digest, qualifyingData
		v = schemeVariant(r.U16())
	}
	if r.Err() != nil || v == "" {
		return "*"
	}
	return v
}

// skipAuth skips the authorization area a command tagged with sessions
// carries after its handles.
func skipAuth(r *tpmwire.Reader, tag uint16) {
	if tag == stSessions {
		r.Take(int(r.U32()))
	}
}

// saltVariant tells the salt's kind by its size: an RSA salt is as long
// as the modulus, an ECC one is a point (68 bytes on P-256).
func saltVariant(size int) string {
	switch size {
	case 0:
		return "unsalted"
	case 128, 256, 384, 512:
		return "rsa-salted"
	}
	return "ecc-salted"
}

func objectVariant(alg uint16) string {
	switch alg {
	case algECC:
		return "ecc"
	case algRSA:
		return "rsa"
	case algKeyedHash:
		return "sealed"
	}
	return ""
}

// schemeVariant prices the key's own scheme (TPM_ALG_NULL) as ECC.
func schemeVariant(alg uint16) string {
	switch alg {
	case algECDSA, algECDAA, algSM2, algECSchnorr, algNull:
		return "ecc"
	case algRSASSA, algRSAPSS:
		return "rsa"
	}
	return ""
}
