//go:build linux

package main

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// minSamples keeps slow operations (seal) from being judged on one call.
const minSamples = 5

// figures are what one side (the direct client or the mount) measured,
// by figure name, over one or more rounds.
type figures struct {
	lat   map[string][]time.Duration // every call's duration
	rates map[string]rate
	cpu   map[string]cpuUse // the daemon's CPU time
	// tpm is what the modelled TPM served per operation (-tpm-profile).
	tpm map[string]opCost
}

// cpuUse is CPU time spent on some operations.
type cpuUse struct {
	cpu time.Duration
	ops int
}

// rate is units (bytes, reads) done in some seconds.
type rate struct{ units, secs float64 }

func (r rate) perSec() float64 { return r.units / r.secs }

func newFigures() *figures {
	return &figures{lat: map[string][]time.Duration{}, rates: map[string]rate{}, cpu: map[string]cpuUse{}, tpm: map[string]opCost{}}
}

// merge adds g's samples to f.
func (f *figures) merge(g *figures) {
	for k, v := range g.lat {
		f.lat[k] = append(f.lat[k], v...)
	}
	for k, v := range g.rates {
		r := f.rates[k]
		f.rates[k] = rate{r.units + v.units, r.secs + v.secs}
	}
	for k, v := range g.cpu {
		c := f.cpu[k]
		f.cpu[k] = cpuUse{c.cpu + v.cpu, c.ops + v.ops}
	}
	for k, v := range g.tpm {
		f.tpm[k] = f.tpm[k].add(v)
	}
}

// timed samples op's latency as name, and on a model what it sent.
func (f *figures) timed(name string, d time.Duration, m *meter, op func() error) error {
	lats, cost, err := sampleMetered(d, m, op)
	if err != nil {
		return err
	}
	f.lat[name] = lats
	if m != nil {
		f.tpm[name] = cost
	}
	return nil
}

// once times one call of op as name (a cold path: the first of its kind).
func (f *figures) once(name string, m *meter, op func() error) error {
	done := m.span()
	t0 := time.Now()
	if err := op(); err != nil {
		return err
	}
	f.lat[name] = append(f.lat[name], time.Since(t0))
	if m != nil {
		f.tpm[name] = f.tpm[name].add(done(1))
	}
	return nil
}

// quantile of the named latency, NaN if it was not measured.
func (f *figures) quantile(name string, q float64) float64 {
	s := f.lat[name]
	if len(s) == 0 {
		return na
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return float64(quantile(s, q))
}

// cpuPerOp is the daemon's CPU time per named operation, NaN if unknown.
func (f *figures) cpuPerOp(name string) float64 {
	c, ok := f.cpu[name]
	if !ok || c.ops == 0 {
		return na
	}
	return float64(c.cpu) / float64(c.ops)
}

// median of the named latency, NaN if it was not measured.
func (f *figures) median(name string) float64 { return f.quantile(name, 0.5) }

// perSec of the named rate, NaN if it was not measured.
func (f *figures) perSec(name string) float64 {
	r, ok := f.rates[name]
	if !ok || r.secs == 0 {
		return na
	}
	return r.perSec()
}

// quantile of sorted samples, by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// warmup is how long an operation runs before it is timed: connections,
// caches and the Go runtime settle first.
func warmup(d time.Duration) time.Duration { return min(d/10, 200*time.Millisecond) }

// sampleLatency runs op repeatedly for d (at least minSamples times)
// after a warm-up, and times each call.
func sampleLatency(d time.Duration, op func() error) ([]time.Duration, error) {
	lats, _, err := sampleMetered(d, nil, op)
	return lats, err
}

// sampleMetered is sampleLatency that also measures, on m, what the
// timed calls sent to the TPM.
func sampleMetered(d time.Duration, m *meter, op func() error) ([]time.Duration, opCost, error) {
	for end := time.Now().Add(warmup(d)); ; {
		if err := op(); err != nil {
			return nil, opCost{}, err
		}
		if time.Now().After(end) {
			break
		}
	}
	done := m.span()
	var lats []time.Duration
	end := time.Now().Add(d)
	for len(lats) < minSamples || time.Now().Before(end) {
		// A goroutine that only makes system calls looks to the Go
		// runtime as if it ran for long, and gets a preemption signal;
		// on a thread inside a FUSE request that becomes an INTERRUPT
		// request, a cost no shell client pays. Yielding avoids it.
		runtime.Gosched()
		t0 := time.Now()
		if err := op(); err != nil {
			return nil, opCost{}, err
		}
		lats = append(lats, time.Since(t0))
	}
	return lats, done(len(lats)), nil
}

// sampleRate runs op on workers goroutines for d after a warm-up and
// returns the units (bytes, reads) they completed.
func sampleRate(d time.Duration, workers int, op func(w int) (int, error)) (rate, error) {
	r, _, err := sampleRateMetered(d, nil, workers, op)
	return r, err
}

// sampleRateMetered is sampleRate that also measures, on m, what the
// operations counted sent to the TPM (per operation, not per unit).
func sampleRateMetered(d time.Duration, m *meter, workers int, op func(w int) (int, error)) (rate, opCost, error) {
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		units     atomic.Int64
		ops       atomic.Int64
		wg        sync.WaitGroup
		errOnce   sync.Once
		firstErr  error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				runtime.Gosched() // see sampleLatency
				n, err := op(w)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("worker %d: %w", w, err) })
					stop.Store(true)
					return
				}
				if measuring.Load() {
					units.Add(int64(n))
					ops.Add(1)
				}
			}
		}()
	}
	time.Sleep(warmup(d))
	// Operations that straddle a boundary are counted when they end; over
	// thousands of operations that evens out.
	units.Store(0)
	ops.Store(0)
	done := m.span()
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(d)
	// An operation slower than d (64 KiB of random on a slow TPM) still
	// gets counted once.
	for units.Load() == 0 && !stop.Load() {
		time.Sleep(time.Millisecond)
	}
	got := units.Load()
	cost := done(int(ops.Load()))
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return rate{}, opCost{}, firstErr
	}
	return rate{float64(got), elapsed.Seconds()}, cost, nil
}
