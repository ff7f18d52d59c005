package faketpm

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/pcrsig"
	"tpmfs/tpmcore/sealing"
)

// TPM is the stand-in. The zero value is not usable: call New.
type TPM struct {
	mu     sync.Mutex
	family string
	banks  []tpmcore.Bank
	pcrs   map[string][]byte // "bank:idx" → value
	parent []byte            // the storage key objects are sealed under

	// Failures injected with Fail; each is returned as is by the
	// operations it names until cleared.
	sealErr, unsealErr, readyErr, pcrErr error

	// Counts of calls, for tests that pin them (see Counts).
	seals, unseals, reseals int
	pcrReads                uint64
	started                 time.Time

	attestState // attest.go
	nvState     // nv.go
}

// Op names what Fail makes fail.
type Op int

const (
	OpSeal   Op = iota // Seal and Reseal
	OpUnseal           // Unseal
	OpReady            // SealReady
	OpPCR              // ReadPCR and Extend
)

// Fail makes op return err from now on; nil clears it.
func (t *TPM) Fail(op Op, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	*[...]*error{&t.sealErr, &t.unsealErr, &t.readyErr, &t.pcrErr}[op] = err
}

// Counts returns how many seals, unseals and reseals were asked for.
func (t *TPM) Counts() (seals, unseals, reseals int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seals, t.unseals, t.reseals
}

// New returns a TPM 2.0 with the sha1 and sha256 banks, every PCR zero.
func New() *TPM {
	return &TPM{family: "2.0", banks: []tpmcore.Bank{pcrsel.SHA1, pcrsel.SHA256}, pcrs: map[string][]byte{},
		parent: []byte("fake storage key 1"), started: time.Now()}
}

// New12 returns a TPM 1.2: the sha1 bank only, no signed policies.
func New12() *TPM {
	t := New()
	t.family, t.banks = "1.2", []tpmcore.Bank{pcrsel.SHA1}
	return t
}

// Replace makes the fake another TPM: objects sealed so far belong to
// the one it was.
func (t *TPM) Replace() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.parent = append(t.parent, '\'')
}

func key(b tpmcore.Bank, idx int) string { return fmt.Sprintf("%s:%d", b.Name, idx) }

func (t *TPM) Info() tpmcore.Info {
	var names []string
	for _, b := range t.banks {
		names = append(names, b.Name)
	}
	return tpmcore.Info{Family: t.family, Manufacturer: "FAKE", Vendor: "faketpm", Firmware: "1.0", Revision: "1.59",
		Banks: names, Source: "fake:"}
}
func (t *TPM) Banks() []tpmcore.Bank { return append([]tpmcore.Bank(nil), t.banks...) }
func (t *TPM) Bank(name string) (tpmcore.Bank, bool) {
	for _, b := range t.banks {
		if b.Name == name {
			return b, true
		}
	}
	return tpmcore.Bank{}, false
}
func (t *TPM) DefaultBank() tpmcore.Bank { return t.banks[len(t.banks)-1] }

// CanExtend follows the PC Client rule: locality 0 extends 0–16 and 23.
func (t *TPM) CanExtend(idx int) bool { return idx >= 0 && idx <= 16 || idx == 23 }

// ReadPCR returns the PCR's value.
func (t *TPM) ReadPCR(ctx context.Context, b tpmcore.Bank, idx int) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pcrErr != nil {
		return nil, t.pcrErr
	}
	t.pcrReads++
	return t.valueLocked(b, idx), nil
}

func (t *TPM) valueLocked(b tpmcore.Bank, idx int) []byte {
	if v, ok := t.pcrs[key(b, idx)]; ok {
		return bytes.Clone(v)
	}
	return make([]byte, b.Size)
}

// Extend sets the PCR to H(old ‖ digest).
func (t *TPM) Extend(ctx context.Context, b tpmcore.Bank, idx int, digest []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pcrErr != nil {
		return t.pcrErr
	}
	if !t.CanExtend(idx) {
		return fmt.Errorf("extend pcr %d: %w", idx, tpmcore.ErrNotAllowed)
	}
	if len(digest) != b.Size {
		return fmt.Errorf("extend: %w: digest size", tpmcore.ErrInvalid)
	}
	h := b.Hash.New()
	h.Write(t.valueLocked(b, idx))
	h.Write(digest)
	t.pcrs[key(b, idx)] = h.Sum(nil)
	return nil
}

// Measure extends every bank with the hash of data.
func (t *TPM) Measure(ctx context.Context, idx int, data []byte) error {
	for _, b := range t.banks {
		h := b.Hash.New()
		h.Write(data)
		if err := t.Extend(ctx, b, idx, h.Sum(nil)); err != nil {
			return err
		}
	}
	return nil
}

// Random fills dest from crypto/rand.
func (t *TPM) Random(ctx context.Context, dest []byte) error {
	_, err := rand.Read(dest)
	return err
}

// ParseSpec parses as tpmcore does.
func (t *TPM) ParseSpec(s string) (tpmcore.Spec, error) {
	spec, err := pcrsel.ParseSpec(s)
	if err != nil {
		return spec, fmt.Errorf("%w: %w", tpmcore.ErrInvalid, err)
	}
	for _, b := range spec.Selection().Banks() {
		if _, ok := t.Bank(b.Name); !ok {
			return tpmcore.Spec{}, fmt.Errorf("%w: bank %s is not active", tpmcore.ErrInvalid, b.Name)
		}
	}
	return spec, nil
}

// SignedPolicies: a TPM 2.0 has them, a TPM 1.2 not.
func (t *TPM) SignedPolicies() error {
	if t.family == "1.2" {
		return fmt.Errorf("%w: signed PCR policies need a TPM 2.0", tpmcore.ErrUnsupported)
	}
	return nil
}

// ParseAuthKey parses as tpmcore does.
func (t *TPM) ParseAuthKey(text []byte) (*tpmcore.AuthKey, error) {
	if err := t.SignedPolicies(); err != nil {
		return nil, err
	}
	k, err := pcrsig.ParseKey(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tpmcore.ErrInvalid, err)
	}
	return k, nil
}

// SealReady returns what Fail(OpReady) set.
func (t *TPM) SealReady(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.readyErr
}

// currentLocked returns the current values of sel's PCRs.
func (t *TPM) currentLocked(sel pcrsel.Selection) []sealing.PCRValue {
	var out []sealing.PCRValue
	for _, p := range sel.PCRs() {
		out = append(out, sealing.PCRValue{Bank: p.Bank.Name, Index: p.Index, Digest: t.valueLocked(p.Bank, p.Index)})
	}
	return out
}

// policy is the fake's policy digest: a hash over the authkey and the
// values.
func policy(authKey []byte, values []sealing.PCRValue) []byte {
	if len(values) == 0 && len(authKey) == 0 {
		return nil
	}
	h := sha256.New()
	h.Write(authKey)
	for _, v := range values {
		h.Write(v.Digest)
	}
	return h.Sum(nil)
}

// Seal keeps the secret in the clear in Ciphertext, behind a 16-byte
// "tag" holding the name, bound to the given or current values of the
// binding's PCRs and to its authkey.
func (t *TPM) Seal(ctx context.Context, name string, b tpmcore.Binding, secret []byte) (*tpmcore.Sealed, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seals++
	if t.sealErr != nil {
		return nil, t.sealErr
	}
	return t.sealLocked(name, b, secret)
}

func (t *TPM) sealLocked(name string, b tpmcore.Binding, secret []byte) (*tpmcore.Sealed, error) {
	if b.AuthKey != nil {
		if err := t.SignedPolicies(); err != nil {
			return nil, err
		}
	}
	sel := b.PCRs.Selection()
	values := t.currentLocked(sel)
	for i, p := range sel.PCRs() {
		if d, ok := b.PCRs.Value(p); ok {
			values[i].Digest = d
		}
	}
	var authKey []byte
	if b.AuthKey != nil {
		authKey = b.AuthKey.DER
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	tag := sha256.Sum256([]byte(name))
	obj := &tpmcore.Sealed{
		Selection: sel.String(), PCRValues: values, AuthKey: authKey, Policy: policy(authKey, values),
		Parent: bytes.Clone(t.parent), Public: []byte{0, 1, 0}, Private: []byte{0, 1, 0}, Nonce: nonce,
		Ciphertext: append(bytes.Clone(secret), tag[:16]...),
	}
	if len(values) == 0 {
		obj.PCRValues = nil
	}
	if t.family == "1.2" {
		obj.Family, obj.Public, obj.Parent = "1.2", nil, nil
	}
	return obj, nil
}

// Unseal returns the secret if this fake sealed it, the PCRs have the
// sealed-to values and, for an object with an authkey, a sha256 policy
// of sigs signed by it matches the current PCRs.
func (t *TPM) Unseal(ctx context.Context, name string, obj *tpmcore.Sealed, sigs *tpmcore.Signatures) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unseals++
	return t.unsealLocked(name, obj, sigs)
}

func (t *TPM) unsealLocked(name string, obj *tpmcore.Sealed, sigs *tpmcore.Signatures) ([]byte, error) {
	if t.unsealErr != nil {
		return nil, t.unsealErr
	}
	if !bytes.Equal(obj.Parent, t.parent) && t.family != "1.2" {
		return nil, fmt.Errorf("unseal %s: %w", name, tpmcore.ErrWrongTPM)
	}
	sel, err := pcrsel.Parse(obj.Selection)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tpmcore.ErrCorrupt, err)
	}
	if len(obj.AuthKey) > 0 {
		m, now, err := t.matchingLocked(obj.AuthKey, sigs)
		if err != nil {
			return nil, fmt.Errorf("unseal %s: %w", name, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("unseal %s: %w", name, &tpmcore.PolicyError{Signed: true, Unsigned: now})
		}
	}
	now := t.currentLocked(sel)
	if !bytes.Equal(policy(obj.AuthKey, now), obj.Policy) {
		var differ []sealing.PCRValue
		for i, v := range now {
			if i < len(obj.PCRValues) && !bytes.Equal(v.Digest, obj.PCRValues[i].Digest) {
				differ = append(differ, v)
			}
		}
		return nil, fmt.Errorf("unseal %s: %w", name, &tpmcore.PolicyError{Differ: differ})
	}
	n := len(obj.Ciphertext) - 16
	tag := sha256.Sum256([]byte(name))
	if n < 0 || !bytes.Equal(obj.Ciphertext[n:], tag[:16]) {
		return nil, fmt.Errorf("unseal %s: %w", name, tpmcore.ErrCorrupt)
	}
	return bytes.Clone(obj.Ciphertext[:n]), nil
}

// matchingLocked returns the usable policies of sigs, signed by the key
// authKey, that the current PCRs satisfy (the real policy digest,
// computed in software), and the current values of the PCRs they cover.
func (t *TPM) matchingLocked(authKey []byte, sigs *tpmcore.Signatures) ([]pcrsig.Policy, []sealing.PCRValue, error) {
	if sigs == nil {
		return nil, nil, nil
	}
	k, err := pcrsig.KeyFromDER(authKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", tpmcore.ErrCorrupt, err)
	}
	if err := sigs.Verify(k); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", tpmcore.ErrCorrupt, err)
	}
	var match []pcrsig.Policy
	var union []pcrsel.PCR
	for _, p := range sigs.Policies {
		if !sealing.Usable(p) {
			continue
		}
		union = append(union, p.PCRs.PCRs()...)
		d, err := sealing.PolicyDigest(p.PCRs, t.currentLocked(p.PCRs))
		if err == nil && bytes.Equal(d, p.Digest) {
			match = append(match, p)
		}
	}
	all, _ := pcrsel.Of(union...)
	var now []sealing.PCRValue
	if !all.IsEmpty() {
		now = t.currentLocked(all)
	}
	return match, now, nil
}

// Reseal unseals (the old policy must hold) and seals as b says.
func (t *TPM) Reseal(ctx context.Context, name string, obj *tpmcore.Sealed, sigs *tpmcore.Signatures, b tpmcore.Binding) (*tpmcore.Sealed, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reseals++
	if t.sealErr != nil {
		return nil, t.sealErr
	}
	secret, err := t.unsealLocked(name, obj, sigs)
	if err != nil {
		return nil, err
	}
	return t.sealLocked(name, b, secret)
}

// Inspect reports as tpmcore does: PCRs against the sealed-to or given
// values, which signed policies match, and whether obj is this fake's.
func (t *TPM) Inspect(ctx context.Context, name string, b tpmcore.Binding, obj *tpmcore.Sealed, sigs *tpmcore.Signatures) (*tpmcore.SealReport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pcrErr != nil {
		return nil, t.pcrErr
	}
	r := &tpmcore.SealReport{}
	if t.family != "1.2" {
		r.Parent = bytes.Clone(t.parent)
	}
	sel := b.PCRs.Selection()
	want := map[string][]byte{}
	for _, v := range b.PCRs.Values() {
		want[v.PCR.String()] = v.Digest
	}
	if obj != nil {
		sel, _ = pcrsel.Parse(obj.Selection)
		want = map[string][]byte{}
		for _, v := range obj.PCRValues {
			want[v.String()] = v.Digest
		}
		r.Belongs, r.Why = sealing.BelongsHere, "fake: sealed here"
		if t.family != "1.2" && !bytes.Equal(obj.Parent, t.parent) {
			r.Belongs, r.Why = sealing.BelongsElsewhere, fmt.Sprintf("sealed under %x, this fake's is %x", obj.Parent, t.parent)
		}
	}
	for _, v := range t.currentLocked(sel) {
		bank, _ := pcrsel.BankByName(v.Bank)
		r.PCRs = append(r.PCRs, sealing.PCRCheck{PCRValue: v, Want: want[v.String()],
			Given: b.PCRs.Given().Has(pcrsel.PCR{Bank: bank, Index: v.Index})})
	}
	if sigs != nil && b.AuthKey != nil {
		match, now, err := t.matchingLocked(b.AuthKey.DER, sigs)
		if err != nil {
			return nil, err
		}
		r.SignedNow = now
		for _, p := range sigs.Policies {
			m := false
			for _, q := range match {
				m = m || bytes.Equal(q.Digest, p.Digest) && q.PCRs == p.PCRs
			}
			r.Signed = append(r.Signed, sealing.SignedCheck{Policy: p, Usable: sealing.Usable(p), Matches: m})
		}
	}
	return r, nil
}

// ErrInjected is a failure tests inject.
var ErrInjected = errors.New("injected failure")

// Status reports the calls counted so far as commands, and the PCR
// reads, so that status reports can be tested against operations.
func (t *TPM) Status() tpmcore.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tpmcore.Status{
		Started: t.started, Reachable: t.pcrErr == nil, Since: t.started,
		PCRReads: t.pcrReads, PCRCode: 0x17e,
		Commands: []tpmcore.CommandStat{{Code: 0x17e, Name: "TPM2_CC_PCR_Read", Count: t.pcrReads, Total: time.Duration(t.pcrReads) * time.Microsecond}},
		Raw:      []tpmcore.RawUsage{{UID: 0, Opens: 1}, {UID: 1000, Opens: 2, Objects: 3, Sessions: 1}},
	}
}
