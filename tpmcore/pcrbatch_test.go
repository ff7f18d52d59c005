package tpmcore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tddl"
)

// slowTPM counts PCR_Read commands and makes each take a while, so that
// readers pile up behind one.
type slowTPM struct {
	transport.TPMCloser
	delay time.Duration

	mu       sync.Mutex
	pcrReads int
}

func (s *slowTPM) Send(cmd []byte) ([]byte, error) {
	if len(cmd) >= 10 && tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10])) == tpm2.TPMCCPCRRead {
		s.mu.Lock()
		s.pcrReads++
		s.mu.Unlock()
		time.Sleep(s.delay)
	}
	return s.TPMCloser.Send(cmd)
}

func (s *slowTPM) reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pcrReads
}

// Concurrent readers of different PCRs and banks share PCR_Read commands,
// and each gets the value go-tpm reads for its PCR.
func TestConcurrentReadsShareCommands(t *testing.T) {
	sim, err := simulator.Get()
	if err != nil {
		t.Fatal(err)
	}
	tpm := &slowTPM{TPMCloser: transport.FromReadWriteCloser(sim), delay: 20 * time.Millisecond}
	opened := false
	c, err := New(func() (tddl.TPM, error) {
		if opened {
			return nil, errors.New("simulator cannot be reopened")
		}
		opened = true
		return tpm, nil
	}, Options{Source: "sim:"})
	if err != nil {
		sim.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	banks := c.Banks()
	for pcr := 0; pcr < 16; pcr++ {
		d := make([]byte, 256)
		rand.Read(d)
		if err := c.Measure(ctx, pcr, d); err != nil {
			t.Fatal(err)
		}
	}

	type read struct {
		bank Bank
		pcr  int
		v    []byte
		err  error
	}
	var reads []*read
	for _, b := range banks {
		for pcr := 0; pcr < NumPCRs; pcr++ {
			reads = append(reads, &read{bank: b, pcr: pcr})
		}
	}
	before := tpm.reads()
	var wg sync.WaitGroup
	for _, r := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.v, r.err = c.ReadPCR(ctx, r.bank, r.pcr)
		}()
	}
	wg.Wait()
	commands := tpm.reads() - before

	// Every reader waited on at most one batch in flight and its own; 8
	// digests fit in one answer.
	if limit := 2 * ((len(reads) + 7) / 8); commands > limit {
		t.Errorf("%d concurrent reads took %d PCR_Read commands, want at most %d", len(reads), commands, limit)
	}
	t.Logf("%d concurrent reads of %d banks: %d PCR_Read commands", len(reads), len(banks), commands)
	// The core is idle now: ask the simulator directly, with go-tpm.
	for _, r := range reads {
		if r.err != nil {
			t.Fatalf("read %s:%d: %v", r.bank.Name, r.pcr, r.err)
		}
		want := goTPMPCRs(t, tpm.TPMCloser, r.bank.Alg, r.pcr)
		if !bytes.Equal(r.v, want) {
			t.Errorf("%s:%d = %x, go-tpm reads %x", r.bank.Name, r.pcr, r.v, want)
		}
	}
}

// Readers that read again and again, each a moment after its last
// answer (as processes behind FUSE do), fill each PCR_Read with all of
// their PCRs, rather than splitting into a batch in flight and one that
// left before the others came back.
func TestRepeatedReadersFillBatches(t *testing.T) {
	sim, err := simulator.Get()
	if err != nil {
		t.Fatal(err)
	}
	tpm := &slowTPM{TPMCloser: transport.FromReadWriteCloser(sim), delay: 20 * time.Millisecond}
	c, err := New(func() (tddl.TPM, error) { return tpm, nil }, Options{Source: "sim:"})
	if err != nil {
		sim.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bank := c.DefaultBank()
	const readers, rounds = 8, 20
	before := tpm.reads()
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if _, err := c.ReadPCR(context.Background(), bank, r); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(100 * time.Microsecond) // the reader's own round trip
			}
		}()
	}
	wg.Wait()
	commands := tpm.reads() - before
	per := float64(readers*rounds) / float64(commands)
	t.Logf("%d reads by %d readers: %d PCR_Read commands, %.1f reads each", readers*rounds, readers, commands, per)
	if per < 6 {
		t.Errorf("%.1f reads per PCR_Read, want at least 6 of the 8 one answer carries", per)
	}
}
