package pcrsel

import (
	"crypto"
	// Registered so that Bank.Hash of sha1..sha512 is usable (crypto.Hash.New).
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"strings"

	"github.com/google/go-tpm/tpm2"
)

// Bank is one PCR bank: a hash algorithm the TPM keeps a set of PCRs for.
// Banks are comparable values; the package variables below are all of them.
type Bank struct {
	Name string        // tpm2-tools name: "sha256"
	Alg  tpm2.TPMAlgID // TPM_ALG_ID of the hash
	Size int           // digest size in bytes
	Hash crypto.Hash   // the Go hash, 0 where Go has none (sm3_256)
}

// The banks a TPM 2.0 may have, as tpm2-tools names them.
var (
	SHA1   = Bank{"sha1", tpm2.TPMAlgSHA1, 20, crypto.SHA1}
	SHA256 = Bank{"sha256", tpm2.TPMAlgSHA256, 32, crypto.SHA256}
	SHA384 = Bank{"sha384", tpm2.TPMAlgSHA384, 48, crypto.SHA384}
	SHA512 = Bank{"sha512", tpm2.TPMAlgSHA512, 64, crypto.SHA512}
	SM3256 = Bank{"sm3_256", tpm2.TPMAlgSM3256, 32, 0}
)

// banks is sorted by algorithm id; a bank's position is its slot in
// Selection's masks, so sorting masks sorts banks.
var banks = [...]Bank{SHA1, SHA256, SHA384, SHA512, SM3256}

// Banks returns every bank this package knows, sorted by algorithm id.
func Banks() []Bank {
	out := banks
	return out[:]
}

// BankByName returns the bank a tpm2-tools name (any case) stands for.
func BankByName(name string) (Bank, bool) {
	for _, b := range banks {
		if strings.EqualFold(b.Name, name) {
			return b, true
		}
	}
	return Bank{}, false
}

// BankByAlg returns the bank of a hash algorithm.
func BankByAlg(alg tpm2.TPMAlgID) (Bank, bool) {
	i := slot(alg)
	if i < 0 {
		return Bank{}, false
	}
	return banks[i], true
}

// String returns the bank's tpm2-tools name.
func (b Bank) String() string { return b.Name }

// slot returns the bank's index in banks, or -1.
func slot(alg tpm2.TPMAlgID) int {
	for i, b := range banks {
		if b.Alg == alg {
			return i
		}
	}
	return -1
}
