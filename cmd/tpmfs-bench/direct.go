package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tddl"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/sealing"
)

// Which PCRs the benchmark touches: readers read 0…readers-1 of sha256,
// extends go to the debug PCR 16, which nothing else uses.
const (
	extendPCR  = 16
	secretSize = 32
)

// directFigures are one run of the direct client: go-tpm's typed
// commands over a raw tddl connection, no queue, no FUSE.
type directFigures struct {
	pcrRead      latency
	seqReads     float64 // PCR reads per second, PCRs 0…readers-1 in turn
	random       float64 // bytes per second, GetRandom of maxRandom bytes
	maxRandom    int
	extend       latency
	seal, unseal latency
}

// runDirect connects to the TPM, measures, and disconnects (swtpm serves
// one client at a time).
func runDirect(cfg tddl.Config, d time.Duration, readers int) (*directFigures, error) {
	t, err := tddl.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("direct client: %w", err)
	}
	defer t.Close()
	// A fresh simulator needs it; a started TPM answers TPM_RC_INITIALIZE.
	tpm2.Startup{StartupType: tpm2.TPMSUClear}.Execute(t)

	f := &directFigures{}
	if f.maxRandom, err = maxRandom(t); err != nil {
		return nil, err
	}
	read := func(i int) error {
		_, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
			Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(i)),
		}}}}.Execute(t)
		if err != nil {
			return fmt.Errorf("PCR_Read %d: %w", i, err)
		}
		return nil
	}
	if f.pcrRead, err = sampleLatency(d, func() error { return read(0) }); err != nil {
		return nil, err
	}
	next := 0
	f.seqReads, err = sampleRate(d, 1, func(int) (int, error) {
		next = (next + 1) % readers
		return 1, read(next)
	})
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	f.random, err = sampleRate(d, 1, func(int) (int, error) {
		// A client that wants 64 KiB asks for the TPM's largest chunk
		// until it has them, copying each into its buffer.
		for p := buf; len(p) > 0; {
			rsp, err := tpm2.GetRandom{BytesRequested: uint16(min(len(p), f.maxRandom))}.Execute(t)
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
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte("tpmfs-bench"))
	f.extend, err = sampleLatency(d, func() error {
		_, err := tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(extendPCR), Auth: tpm2.PasswordAuth(nil)},
			Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: digest[:]}}},
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("PCR_Extend: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := sealFigures(t, d, f); err != nil {
		return nil, err
	}
	return f, nil
}

// sealFigures times tpmfs's own sealing code on the raw connection: the
// same TPM commands and host cryptography the mount runs, without the
// queue, FUSE and the on-disk store.
func sealFigures(t transport.TPM, d time.Duration, f *directFigures) error {
	secret := make([]byte, secretSize)
	var obj *sealing.Object
	var err error
	f.seal, err = sampleLatency(d, func() error {
		obj, err = sealing.Seal(t, nil, "bench", pcrsel.Selection{}, secret)
		return err
	})
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	f.unseal, err = sampleLatency(d, func() error {
		_, err := sealing.Unseal(t, nil, "bench", obj)
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
