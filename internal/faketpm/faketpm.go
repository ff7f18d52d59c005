// Package faketpm is an in-memory stand-in for tpmcore.Core, for unit
// tests of the layers above it (vault, fs): PCRs that extend as a TPM's
// do, a random stream, and sealing bound to PCR values, with failures to
// inject, and EK certificates, attestation keys, quotes, credentials and
// NV indices of every type (attest.go, nv.go) for ek/, ak/ and nv/. It
// is no TPM: nothing it seals, signs or keeps is protected.
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
	"tpmfs/tpmcore/sealing"
)

// TPM is the stand-in. The zero value is not usable: call New.
type TPM struct {
	mu    sync.Mutex
	banks []tpmcore.Bank
	pcrs  map[string][]byte // "bank:idx" → value

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

// New returns a TPM with the sha1 and sha256 banks, every PCR zero.
func New() *TPM {
	return &TPM{banks: []tpmcore.Bank{pcrsel.SHA1, pcrsel.SHA256}, pcrs: map[string][]byte{}, started: time.Now()}
}

func key(b tpmcore.Bank, idx int) string { return fmt.Sprintf("%s:%d", b.Name, idx) }

func (t *TPM) Info() tpmcore.Info {
	return tpmcore.Info{Family: "2.0", Manufacturer: "FAKE", Vendor: "faketpm", Firmware: "1.0", Revision: "1.59",
		Banks: []string{"sha1", "sha256"}, Source: "fake:"}
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
func (t *TPM) DefaultBank() tpmcore.Bank { return pcrsel.SHA256 }

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

// ParseSelection parses as tpmcore does.
func (t *TPM) ParseSelection(s string) (tpmcore.Selection, error) {
	sel, err := pcrsel.Parse(s)
	if err != nil {
		return sel, fmt.Errorf("%w: %w", tpmcore.ErrInvalid, err)
	}
	for _, b := range sel.Banks() {
		if _, ok := t.Bank(b.Name); !ok {
			return tpmcore.Selection{}, fmt.Errorf("%w: bank %s is not active", tpmcore.ErrInvalid, b.Name)
		}
	}
	return sel, nil
}

// SealReady returns what Fail(OpReady) set.
func (t *TPM) SealReady(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.readyErr
}

// policy is the fake's policy digest: a hash over the selected values.
func (t *TPM) policyLocked(sel tpmcore.Selection) ([]byte, []sealing.PCRValue) {
	if sel.IsEmpty() {
		return nil, nil
	}
	h := sha256.New()
	var values []sealing.PCRValue
	for _, p := range sel.PCRs() {
		v := t.valueLocked(p.Bank, p.Index)
		h.Write(v)
		values = append(values, sealing.PCRValue{Bank: p.Bank.Name, Index: p.Index, Digest: v})
	}
	return h.Sum(nil), values
}

// Seal keeps the secret in the clear in Ciphertext, behind a 16-byte
// "tag" holding the name, bound to the selected PCRs' current values.
func (t *TPM) Seal(ctx context.Context, name string, sel tpmcore.Selection, secret []byte) (*tpmcore.Sealed, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seals++
	if t.sealErr != nil {
		return nil, t.sealErr
	}
	return t.sealLocked(name, sel, secret), nil
}

func (t *TPM) sealLocked(name string, sel tpmcore.Selection, secret []byte) *tpmcore.Sealed {
	policy, values := t.policyLocked(sel)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	tag := sha256.Sum256([]byte(name))
	return &tpmcore.Sealed{
		Selection: sel.String(), PCRValues: values, Policy: policy,
		Public: []byte{0, 1, 0}, Private: []byte{0, 1, 0}, Nonce: nonce,
		Ciphertext: append(bytes.Clone(secret), tag[:16]...),
	}
}

// Unseal returns the secret if the PCRs still have the sealed-to values.
func (t *TPM) Unseal(ctx context.Context, name string, obj *tpmcore.Sealed) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unseals++
	return t.unsealLocked(name, obj)
}

func (t *TPM) unsealLocked(name string, obj *tpmcore.Sealed) ([]byte, error) {
	if t.unsealErr != nil {
		return nil, t.unsealErr
	}
	sel, err := pcrsel.Parse(obj.Selection)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tpmcore.ErrCorrupt, err)
	}
	if policy, _ := t.policyLocked(sel); !bytes.Equal(policy, obj.Policy) {
		return nil, fmt.Errorf("unseal %s: %w", name, &tpmcore.PolicyError{})
	}
	n := len(obj.Ciphertext) - 16
	tag := sha256.Sum256([]byte(name))
	if n < 0 || !bytes.Equal(obj.Ciphertext[n:], tag[:16]) {
		return nil, fmt.Errorf("unseal %s: %w", name, tpmcore.ErrCorrupt)
	}
	return bytes.Clone(obj.Ciphertext[:n]), nil
}

// Reseal unseals (the old policy must hold) and seals under sel.
func (t *TPM) Reseal(ctx context.Context, name string, obj *tpmcore.Sealed, sel tpmcore.Selection) (*tpmcore.Sealed, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reseals++
	if t.sealErr != nil {
		return nil, t.sealErr
	}
	secret, err := t.unsealLocked(name, obj)
	if err != nil {
		return nil, err
	}
	return t.sealLocked(name, sel, secret), nil
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
