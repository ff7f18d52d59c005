package tpmcore

import (
	"crypto"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/google/go-tpm/tpm2"
)

// bankAlgs maps the PCR banks tpmfs knows to their algorithms. hash is 0
// where Go has no implementation (sm3_256).
var bankAlgs = []struct {
	name string
	alg  tpm2.TPMIAlgHash
	size int
	hash crypto.Hash
}{
	{"sha1", tpm2.TPMAlgSHA1, 20, crypto.SHA1},
	{"sha256", tpm2.TPMAlgSHA256, 32, crypto.SHA256},
	{"sha384", tpm2.TPMAlgSHA384, 48, crypto.SHA384},
	{"sha512", tpm2.TPMAlgSHA512, 64, crypto.SHA512},
	{"sm3_256", tpm2.TPMAlgSM3256, 32, 0},
}

func bankOfAlg(alg tpm2.TPMIAlgHash) (name string, size int, ok bool) {
	for _, b := range bankAlgs {
		if b.alg == alg {
			return b.name, b.size, true
		}
	}
	return "", 0, false
}

func hashOfAlg(alg tpm2.TPMIAlgHash) crypto.Hash {
	for _, b := range bankAlgs {
		if b.alg == alg {
			return b.hash
		}
	}
	return 0
}
