//go:build linux

package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tddl"
	"tpmfs/tddl/source"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/sealing"
)

// Which PCRs the benchmark touches: readers read 0…readers-1 of sha256,
// extends go to the debug PCR 16, which nothing else uses.
const (
	extendPCR  = 16
	secretSize = 32
	// sealPCRs is what the sealed secret is bound to: one PCR, as a
	// service's secret bound to its boot state.
	sealPCRs = "sha256:16"
)

// runDirect connects to the TPM, measures with go-tpm's typed commands on
// the raw tddl connection (no queue, no FUSE), and disconnects: swtpm
// serves one client at a time. It also returns the TPM's GetRandom size.
func runDirect(cfg source.Config, o options) (*figures, int, error) {
	t, err := tddl.Open(cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("direct client: %w", err)
	}
	defer t.Close()
	// A fresh simulator needs it; a started TPM answers TPM_RC_INITIALIZE.
	tpm2.Startup{StartupType: tpm2.TPMSUClear}.Execute(t)
	chunk, err := maxRandom(t)
	if err != nil {
		return nil, 0, err
	}
	f := newFigures()
	d, m := o.duration, o.meter
	read := func(i int) error {
		_, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
			Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(i)),
		}}}}.Execute(t)
		if err != nil {
			return fmt.Errorf("PCR_Read %d: %w", i, err)
		}
		return nil
	}
	if o.only.has("pcr") || o.only.has("cat") {
		if err := f.timed("pcr", d, m, func() error { return read(0) }); err != nil {
			return nil, 0, err
		}
	}
	if o.only.has("readers") {
		next := 0
		f.rates["readers"], f.tpm["readers"], err = sampleRateMetered(d, m, 1, func(int) (int, error) {
			next = (next + 1) % o.readers
			return 1, read(next)
		})
		if err != nil {
			return nil, 0, err
		}
	}
	if o.only.has("random") {
		if f.rates["random"], f.tpm["random"], err = randomLoop(t, d, m, chunk, o.randomRead()); err != nil {
			return nil, 0, err
		}
	}
	if o.only.has("extend") {
		if err := extendLatency(t, d, m, f); err != nil {
			return nil, 0, err
		}
	}
	if o.only.has("seal") {
		if err := sealLatency(t, d, m, f); err != nil {
			return nil, 0, err
		}
	}
	if o.only.has("creds") && cfg.Kind == source.Swtpm {
		// systemd-creds straight on the TPM, through tpm2-tss's swtpm
		// TCTI; swtpm serves one connection at a time.
		t.Close()
		if err := directCreds(cfg, d, m, f); err != nil {
			return nil, 0, err
		}
	}
	return f, chunk, nil
}

// randomLoop is a client that wants size bytes: it asks for the TPM's
// largest chunk until it has them, copying each into its buffer.
func randomLoop(t transport.TPM, d time.Duration, m *meter, chunk, size int) (rate, opCost, error) {
	buf := make([]byte, size)
	return sampleRateMetered(d, m, 1, func(int) (int, error) {
		for p := buf; len(p) > 0; {
			rsp, err := tpm2.GetRandom{BytesRequested: uint16(min(len(p), chunk))}.Execute(t)
			if err != nil {
				return 0, fmt.Errorf("GetRandom: %w", err)
			}
			if len(rsp.RandomBytes.Buffer) == 0 {
				return 0, fmt.Errorf("GetRandom: no bytes")
			}
			p = p[copy(p, rsp.RandomBytes.Buffer):]
		}
		return len(buf), nil
	})
}

func extendLatency(t transport.TPM, d time.Duration, m *meter, f *figures) error {
	digest := sha256.Sum256([]byte("tpmfs-bench"))
	return f.timed("extend", d, m, func() error {
		_, err := tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(extendPCR), Auth: tpm2.PasswordAuth(nil)},
			Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: digest[:]}}},
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("PCR_Extend: %w", err)
		}
		return nil
	})
}

// sealLatency times tpmfs's own sealing code on the raw connection: the
// same TPM commands and host cryptography the mount runs (a Keeper that
// keeps the storage root key and session, warmed up), without the queue,
// the resource manager, FUSE and the on-disk store.
func sealLatency(t transport.TPM, d time.Duration, m *meter, f *figures) error {
	secret := make([]byte, secretSize)
	sel, err := pcrsel.Parse(sealPCRs)
	if err != nil {
		return err
	}
	k := sealing.NewKeeper(nil)
	defer k.Close(t)
	var obj *sealing.Object
	err = f.timed("seal", d, m, func() (err error) {
		obj, err = k.Seal(t, "bench", sealing.Bind(sel), secret)
		return err
	})
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	err = f.timed("unseal", d, m, func() error {
		_, err := k.Unseal(t, "bench", obj, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	return nil
}

// maxRandom is the most bytes one GetRandom returns: the size of the
// largest digest the TPM implements (TPM_PT_MAX_DIGEST).
func maxRandom(t transport.TPM) (int, error) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTMaxDigest),
		PropertyCount: 1,
	}.Execute(t)
	if err != nil {
		return 0, fmt.Errorf("get TPM_PT_MAX_DIGEST: %w", err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return 0, fmt.Errorf("get TPM_PT_MAX_DIGEST: %w", err)
	}
	for _, p := range props.TPMProperty {
		if p.Property == tpm2.TPMPTMaxDigest && p.Value > 0 {
			return int(p.Value), nil
		}
	}
	return 0, fmt.Errorf("get TPM_PT_MAX_DIGEST: not reported")
}
