package tpmcore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tddl"
)

// newSimCore runs a Core on the in-process simulator, opened directly so
// these tests do not depend on tddl's backends.
func newSimCore(t testing.TB) *Core {
	t.Helper()
	return newSimCoreWith(t, Options{Source: "sim:"})
}

func newSimCoreWith(t testing.TB, opts Options) *Core {
	t.Helper()
	sim, err := simulator.Get()
	if err != nil {
		t.Fatal(err)
	}
	conn := transport.FromReadWriteCloser(sim)
	opened := false
	c, err := New(func() (tddl.TPM, error) {
		if opened {
			return nil, errors.New("simulator cannot be reopened")
		}
		opened = true
		return conn, nil
	}, opts)
	if err != nil {
		sim.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func extendExpect(h crypto.Hash, old, d []byte) []byte {
	hh := h.New()
	hh.Write(old)
	hh.Write(d)
	return hh.Sum(nil)
}

func TestExtendAndMeasure(t *testing.T) {
	c := newSimCore(t)
	ctx := context.Background()
	banks := c.Banks()
	if len(banks) == 0 {
		t.Fatal("no banks")
	}
	for _, b := range banks {
		if b.Hash == 0 {
			continue
		}
		old, err := c.ReadPCR(ctx, b, 16)
		if err != nil {
			t.Fatal(err)
		}
		d := make([]byte, b.Size)
		rand.Read(d)
		if err := c.Extend(ctx, b, 16, d); err != nil {
			t.Fatalf("extend %s: %v", b.Name, err)
		}
		got, _ := c.ReadPCR(ctx, b, 16)
		if want := extendExpect(b.Hash, old, d); !bytes.Equal(got, want) {
			t.Errorf("%s: pcr 16 = %x, want %x", b.Name, got, want)
		}
		if err := c.Extend(ctx, b, 16, d[:len(d)-1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: short digest: err = %v, want ErrInvalid", b.Name, err)
		}
	}
	for _, size := range []int{0, 1, 1024, 1025, 5000, MaxEvent} {
		data := make([]byte, size)
		rand.Read(data)
		before := map[string][]byte{}
		for _, b := range banks {
			before[b.Name], _ = c.ReadPCR(ctx, b, 23)
		}
		if err := c.Measure(ctx, 23, data); err != nil {
			t.Fatalf("measure %d bytes: %v", size, err)
		}
		for _, b := range banks {
			h := b.Hash
			hh := h.New()
			hh.Write(data)
			got, _ := c.ReadPCR(ctx, b, 23)
			if want := extendExpect(h, before[b.Name], hh.Sum(nil)); !bytes.Equal(got, want) {
				t.Errorf("measure %d bytes, %s: got %x want %x", size, b.Name, got, want)
			}
		}
	}
	if err := c.Measure(ctx, 23, make([]byte, MaxEvent+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized event: err = %v, want ErrTooLarge", err)
	}
}

func TestLocality(t *testing.T) {
	c := newSimCore(t)
	if c.CanExtend(17) || !c.CanExtend(16) || !c.CanExtend(0) {
		t.Fatalf("CanExtend: 0=%v 16=%v 17=%v, want true true false", c.CanExtend(0), c.CanExtend(16), c.CanExtend(17))
	}
	if err := c.Measure(context.Background(), 17, []byte("x")); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("measure into 17: err = %v, want ErrNotAllowed", err)
	}
}

func TestConcurrentReadsCoalesce(t *testing.T) {
	c := newSimCore(t)
	ctx := context.Background()
	b := c.DefaultBank()
	want := make([][]byte, NumPCRs)
	for i := range want {
		v, err := c.ReadPCR(ctx, b, i)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = v
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*NumPCRs)
	for r := 0; r < 8; r++ {
		for i := 0; i < NumPCRs; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				v, err := c.ReadPCR(ctx, b, i)
				if err != nil {
					errs <- err
				} else if !bytes.Equal(v, want[i]) {
					t.Errorf("pcr %d: got %x want %x", i, v, want[i])
				}
			}(i)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRandom(t *testing.T) {
	c := newSimCore(t)
	for _, n := range []int{1, 31, 64, 4097, 65536} {
		p := make([]byte, n)
		if err := c.Random(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if n >= 64 && bytes.Count(p, []byte{0}) > n/16 {
			t.Errorf("%d random bytes look unfilled: %d zeros", n, bytes.Count(p, []byte{0}))
		}
	}
}

func TestInfo(t *testing.T) {
	c := newSimCore(t)
	i := c.Info()
	if i.Family != "2.0" || i.Manufacturer == "" || len(i.Banks) == 0 {
		t.Errorf("info = %+v", i)
	}
}
