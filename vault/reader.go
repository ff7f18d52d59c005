package vault

import (
	"context"
	"fmt"
	"sync"
)

// plaintext is one version of an object's secret, held once and shared by
// the readers that opened it.
type plaintext struct {
	version string // the sealed envelope's nonce: every seal is a new one
	data    []byte
	refs    int
}

// reader is a Reader.
type reader struct {
	v     *Vault
	ref   Ref
	text  []byte     // pcrs and policy, and data without a secret yet
	p     *plaintext // data
	close sync.Once
}

// OpenRead opens part of ref's object for reading. Data is unsealed here,
// so a PCR policy that fails is an error of open(2) (tpmcore.ErrPolicy),
// and status noted. Status is made here, asking the TPM.
func (v *Vault) OpenRead(ctx context.Context, c Caller, ref Ref, part Part) (Reader, error) {
	if ref.ID == "" {
		info, err := v.Stat(ref)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", ref.Name, info.Damaged)
	}
	rec, err := v.loadRef(ref)
	if err != nil {
		return nil, err
	}
	if part == Status {
		return &reader{v: v, ref: ref, text: v.statusText(ctx, rec)}, nil
	}
	if part != Data || rec.Sealed == nil {
		return &reader{v: v, ref: ref, text: v.info(rec).Text(part)}, nil
	}
	secret, err := v.tpm.Unseal(ctx, ref.Name, rec.Sealed, rec.Signatures)
	v.noteUnseal(ref.ID, err)
	if err != nil {
		return nil, err
	}
	return &reader{v: v, ref: ref, p: v.share(ref.ID, string(rec.Sealed.Nonce), secret)}, nil
}

// share returns the plaintext of an object's version, keeping the first
// copy unsealed and wiping later ones: every open still unseals (the TPM
// checks the policy each time), but memory grows with the versions open,
// not with the descriptors.
func (v *Vault) share(id, version string, secret []byte) *plaintext {
	v.mu.Lock()
	defer v.mu.Unlock()
	if p := v.plain[id]; p != nil && p.version == version {
		p.refs++
		wipe(secret)
		return p
	}
	p := &plaintext{version: version, data: secret, refs: 1}
	v.plain[id] = p
	return p
}

func (v *Vault) unshare(id string, p *plaintext) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if p.refs--; p.refs > 0 {
		return
	}
	wipe(p.data)
	p.data = nil
	if v.plain[id] == p {
		delete(v.plain, id)
	}
}

func (r *reader) Bytes() ([]byte, error) {
	if !r.v.alive(r.ref) {
		return nil, fmt.Errorf("%s: %w", r.ref.Name, ErrStale)
	}
	if r.p != nil {
		return r.p.data, nil
	}
	return r.text, nil
}

func (r *reader) Close() {
	r.close.Do(func() {
		if r.p != nil {
			r.v.unshare(r.ref.ID, r.p)
		}
	})
}

// wipe overwrites secret bytes once they are no longer needed.
func wipe(b []byte) { clear(b) }
