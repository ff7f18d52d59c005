package sealing

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
)

// maxPCRChangedRetries bounds the retries of an unseal that a PCR change
// interrupted (TPM_RC_PCR_CHANGED) between PolicyPCR and Unseal.
const maxPCRChangedRetries = 4

// decoded is an Object's TPM part, parsed and checked.
type decoded struct {
	sel  pcrsel.Selection
	key  *pcrsig.Key // the AuthKey, if any
	pub  tpm2.TPM2BPublic
	priv tpm2.TPM2BPrivate
}

// decode parses and cross-checks obj without a TPM; anything malformed or
// inconsistent is ErrCorrupt.
func decode(obj *Object) (*decoded, error) {
	if obj == nil {
		return nil, fmt.Errorf("%w: no object", ErrCorrupt)
	}
	if obj.Family != "" {
		return nil, fmt.Errorf("%w: sealed by a TPM %s, this is a TPM 2.0", ErrWrongTPM, obj.Family)
	}
	sel, err := pcrsel.Parse(obj.Selection)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if !whole2B(obj.Public) || !whole2B(obj.Private) {
		return nil, fmt.Errorf("%w: public or private area truncated or padded", ErrCorrupt)
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](obj.Public)
	if err != nil {
		return nil, fmt.Errorf("%w: public area: %w", ErrCorrupt, err)
	}
	area, err := pub.Contents()
	if err != nil {
		return nil, fmt.Errorf("%w: public area: %w", ErrCorrupt, err)
	}
	if area.Type != tpm2.TPMAlgKeyedHash || area.NameAlg != tpm2.TPMAlgSHA256 {
		return nil, fmt.Errorf("%w: public area is not a sealed-data object", ErrCorrupt)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](obj.Private)
	if err != nil {
		return nil, fmt.Errorf("%w: private area: %w", ErrCorrupt, err)
	}
	var key *pcrsig.Key
	if len(obj.AuthKey) > 0 {
		if key, err = pcrsig.KeyFromDER(obj.AuthKey); err != nil {
			return nil, fmt.Errorf("%w: authkey: %w", ErrCorrupt, err)
		}
	}
	if err := checkPolicy(sel, key, obj, area); err != nil {
		return nil, err
	}
	return &decoded{sel: sel, key: key, pub: *pub, priv: *priv}, nil
}

// whole2B reports whether b is exactly one TPM2B: a big-endian size and
// that many bytes.
func whole2B(b []byte) bool {
	return len(b) >= 2 && int(binary.BigEndian.Uint16(b)) == len(b)-2
}

// open loads obj under the SRK, unseals its key, flushes it and decrypts;
// enc is the session that encrypts the key on its way out.
func open(tpm transport.TPM, s *srk, enc *keptSession, name string, obj *Object, d *decoded, sigs *pcrsig.Set) ([]byte, error) {
	rsp, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    d.priv,
		InPublic:     d.pub,
	}.Execute(tpm)
	if err != nil {
		// The private area's integrity HMAC is keyed from the parent's
		// seed: under another TPM's SRK it does not verify.
		if errors.Is(err, tpm2.TPMRCIntegrity) || errors.Is(err, tpm2.TPMRCBinding) {
			return nil, fmt.Errorf("load sealed key: %w: %w", ErrWrongTPM, err)
		}
		return nil, fmt.Errorf("load sealed key: %w", err)
	}
	item := tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}
	key, err := unsealKey(tpm, enc, item, d, sigs, obj.PCRValues)
	defer wipe(key)
	if err = errors.Join(err, flush(tpm, item.Handle)); err != nil {
		return nil, err
	}
	return decrypt(key, name, obj)
}

// unsealKey runs TPM2_Unseal on the loaded item, authorized by a policy
// session (objectPolicy) or, without a policy, by enc, which encrypts the
// key on its way out. PCR changes between reading PCRs or PolicyPCR and
// Unseal are retried.
func unsealKey(tpm transport.TPM, enc *keptSession, item tpm2.NamedHandle, d *decoded, sigs *pcrsig.Set, sealed []PCRValue) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		auth, extra := enc.use(outOfTPM), []tpm2.Session(nil)
		if d.key != nil || !d.sel.IsEmpty() {
			var a *approval
			if d.key != nil {
				var err error
				if a, err = approve(tpm, d.key, sigs); err != nil {
					return nil, fmt.Errorf("unseal sealed key: %w", err)
				}
			}
			// The policy session authorizes; it needs no salt of its own
			// (85 ms on a discrete TPM), as enc encrypts.
			auth, extra = tpm2.Policy(tpm2.TPMAlgSHA256, 16, objectPolicy(a, d.sel)), []tpm2.Session{auth}
		}
		rsp, err := tpm2.Unseal{
			ItemHandle: tpm2.AuthHandle{Handle: item.Handle, Name: item.Name, Auth: auth},
		}.Execute(tpm, extra...)
		moved := errors.Is(err, tpm2.TPMRCPCRChanged) || errors.Is(err, errPCRsMoved)
		switch {
		case err == nil:
			return rsp.OutData.Buffer, nil
		case moved && attempt < maxPCRChangedRetries:
			continue
		case errors.Is(err, tpm2.TPMRCPolicyFail):
			differ, derr := differing(tpm, d.sel, sealed)
			perr := &PolicyError{Differ: differ}
			if derr != nil {
				return nil, fmt.Errorf("unseal sealed key: %w (comparing PCRs: %v)", perr, derr)
			}
			return nil, fmt.Errorf("unseal sealed key: %w", perr)
		default:
			return nil, fmt.Errorf("unseal sealed key: %w", err)
		}
	}
}
