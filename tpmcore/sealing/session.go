package sealing

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// keptSession is one HMAC session salted to the SRK, kept across
// operations (continueSession), that encrypts the envelope key on its way
// into the TPM (Create) and out of it (Unseal) with AES-128-CFB. go-tpm's
// own sessions fix their encrypt and decrypt attributes when they start,
// and no command takes both (Unseal has no parameter to decrypt), so
// this one is used through views (use) that set them per command; the
// HMAC, nonces and parameter encryption follow Part 1, 19.6 and 21, as
// go-tpm's do. Its authorizations use an empty auth value: the SRK's and
// the sealed objects' own.
type keptSession struct {
	handle      tpm2.TPMHandle // 0 once the TPM ended it
	key         []byte         // sessionKey, from the salt
	nonceCaller []byte
	nonceTPM    []byte
}

const (
	sessionHash  = crypto.SHA256
	nonceSize    = 16
	aesKeyBytes  = 16 // AES-128
	cfbIVBytes   = aes.BlockSize
	sessionCFB   = "CFB"
	sessionLabel = "ATH"
)

// startSession starts an HMAC session salted to s (ECC: the salt is
// agreed with the SRK's public key, so only this TPM learns it).
func startSession(tpm transport.TPM, s *srk) (*keptSession, error) {
	k := &keptSession{nonceCaller: make([]byte, nonceSize)}
	if _, err := rand.Read(k.nonceCaller); err != nil {
		return nil, err
	}
	encap, err := tpm2.ImportEncapsulationKey(&s.pub)
	if err != nil {
		return nil, fmt.Errorf("start session: SRK public key: %w", err)
	}
	salt, encSalt, err := tpm2.CreateEncryptedSalt(rand.Reader, encap)
	if err != nil {
		return nil, fmt.Errorf("start session: salt: %w", err)
	}
	rsp, err := tpm2.StartAuthSession{
		TPMKey:        s.handle,
		Bind:          tpm2.TPMRHNull,
		NonceCaller:   tpm2.TPM2BNonce{Buffer: k.nonceCaller},
		EncryptedSalt: tpm2.TPM2BEncryptedSecret{Buffer: encSalt},
		SessionType:   tpm2.TPMSEHMAC,
		Symmetric: tpm2.TPMTSymDef{
			Algorithm: tpm2.TPMAlgAES,
			KeyBits:   tpm2.NewTPMUSymKeyBits(tpm2.TPMAlgAES, tpm2.TPMKeyBits(8*aesKeyBytes)),
			Mode:      tpm2.NewTPMUSymMode(tpm2.TPMAlgAES, tpm2.TPMAlgCFB),
		},
		AuthHash: tpm2.TPMAlgSHA256,
	}.Execute(tpm)
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	k.handle = tpm2.TPMHandle(rsp.SessionHandle.HandleValue())
	k.nonceTPM = rsp.NonceTPM.Buffer
	k.key = tpm2.KDFa(sessionHash, salt, sessionLabel, k.nonceTPM, k.nonceCaller, 8*sessionHash.Size())
	return k, nil
}

// direction is what a view of the session encrypts.
type direction int

const (
	plain    direction = iota
	intoTPM            // decrypt: the command's first parameter (Create's inSensitive)
	outOfTPM           // encrypt: the response's first parameter (Unseal's outData)
)

// use returns the session as go-tpm takes it, encrypting dir.
func (k *keptSession) use(dir direction) tpm2.Session { return sessionUse{k: k, dir: dir} }

type sessionUse struct {
	k   *keptSession
	dir direction
}

var (
	errSessionEnded = errors.New("kept session ended")
	errResponseHMAC = errors.New("kept session: incorrect response HMAC")
)

func (u sessionUse) attrs() tpm2.TPMASession {
	return tpm2.TPMASession{ContinueSession: true, Decrypt: u.dir == intoTPM, Encrypt: u.dir == outOfTPM}
}

func (u sessionUse) Init(transport.TPM) error {
	if u.k.handle == 0 {
		return errSessionEnded
	}
	return nil
}

// CleanupFailure leaves the session alone: it continues after a failed
// command, which changes none of its state.
func (u sessionUse) CleanupFailure(transport.TPM) error { return nil }

func (u sessionUse) NonceTPM() tpm2.TPM2BNonce { return tpm2.TPM2BNonce{Buffer: u.k.nonceTPM} }

func (u sessionUse) NewNonceCaller() error {
	_, err := rand.Read(u.k.nonceCaller)
	return err
}

// Authorize computes the command HMAC (Part 1, 19.6.5): keyed by the
// session key (the auth value is empty), over cpHash, nonceCaller,
// nonceTPM, the other sessions' nonces and the attributes.
func (u sessionUse) Authorize(cc tpm2.TPMCC, parms, addNonces []byte, names []tpm2.TPM2BName, _ int) (*tpm2.TPMSAuthCommand, error) {
	if u.k.handle == 0 {
		return nil, errSessionEnded
	}
	h := sessionHash.New()
	binary.Write(h, binary.BigEndian, uint32(cc))
	for _, n := range names {
		h.Write(n.Buffer)
	}
	h.Write(parms)
	mac := u.k.hmac(h.Sum(nil), u.k.nonceCaller, u.k.nonceTPM, addNonces, u.attrs())
	return &tpm2.TPMSAuthCommand{
		Handle:        u.k.handle,
		Nonce:         tpm2.TPM2BNonce{Buffer: bytes.Clone(u.k.nonceCaller)},
		Attributes:    u.attrs(),
		Authorization: tpm2.TPM2BData{Buffer: mac},
	}, nil
}

// Validate checks the response HMAC over rpHash, the new nonceTPM,
// nonceCaller and the attributes, and keeps the new nonceTPM.
func (u sessionUse) Validate(rc tpm2.TPMRC, cc tpm2.TPMCC, parms []byte, _ []tpm2.TPM2BName, _ int, auth *tpm2.TPMSAuthResponse) error {
	u.k.nonceTPM = bytes.Clone(auth.Nonce.Buffer)
	if !auth.Attributes.ContinueSession {
		u.k.handle = 0
	}
	h := sessionHash.New()
	binary.Write(h, binary.BigEndian, uint32(rc))
	binary.Write(h, binary.BigEndian, uint32(cc))
	h.Write(parms)
	mac := u.k.hmac(h.Sum(nil), u.k.nonceTPM, u.k.nonceCaller, nil, auth.Attributes)
	if !hmac.Equal(mac, auth.Authorization.Buffer) {
		return errResponseHMAC
	}
	return nil
}

func (k *keptSession) hmac(pHash, newer, older, more []byte, a tpm2.TPMASession) []byte {
	m := hmac.New(sessionHash.New, k.key)
	m.Write(pHash)
	m.Write(newer)
	m.Write(older)
	m.Write(more)
	m.Write([]byte{attrsByte(a)})
	return m.Sum(nil)
}

// attrsByte is TPMA_SESSION as one byte (Part 2, 8.4).
func attrsByte(a tpm2.TPMASession) byte {
	var b byte
	for _, f := range []struct {
		set bool
		bit byte
	}{{a.ContinueSession, 0}, {a.AuditExclusive, 1}, {a.AuditReset, 2}, {a.Decrypt, 5}, {a.Encrypt, 6}, {a.Audit, 7}} {
		if f.set {
			b |= 1 << f.bit
		}
	}
	return b
}

func (u sessionUse) IsEncryption() bool { return u.dir == outOfTPM }
func (u sessionUse) IsDecryption() bool { return u.dir == intoTPM }

// Encrypt encrypts a command's first parameter for the TPM (Part 1, 21.3):
// key and IV from KDFa(sessionKey, "CFB", nonceCaller, nonceTPM).
func (u sessionUse) Encrypt(p []byte) error {
	if u.dir != intoTPM {
		return nil
	}
	s, err := u.k.cfb(u.k.nonceCaller, u.k.nonceTPM)
	if err != nil {
		return err
	}
	cipher.NewCFBEncrypter(s.block, s.iv).XORKeyStream(p, p)
	return nil
}

// Decrypt decrypts a response's first parameter: the nonces the other way
// round, nonceTPM being the response's.
func (u sessionUse) Decrypt(p []byte) error {
	if u.dir != outOfTPM {
		return nil
	}
	s, err := u.k.cfb(u.k.nonceTPM, u.k.nonceCaller)
	if err != nil {
		return err
	}
	cipher.NewCFBDecrypter(s.block, s.iv).XORKeyStream(p, p)
	return nil
}

type cfbKey struct {
	block cipher.Block
	iv    []byte
}

func (k *keptSession) cfb(u, v []byte) (cfbKey, error) {
	b := tpm2.KDFa(sessionHash, k.key, sessionCFB, u, v, 8*(aesKeyBytes+cfbIVBytes))
	block, err := aes.NewCipher(b[:aesKeyBytes])
	if err != nil {
		return cfbKey{}, err
	}
	return cfbKey{block: block, iv: b[aesKeyBytes:]}, nil
}

func (u sessionUse) Handle() tpm2.TPMHandle { return u.k.handle }

var _ tpm2.Session = sessionUse{}
