package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// minSamples keeps slow operations (seal) from being judged on one call.
const minSamples = 5

// latency is the distribution of one operation's duration.
type latency struct {
	n           int
	median, p90 time.Duration
}

// warmup is how long an operation runs before it is timed: connections,
// caches and the Go runtime settle first.
func warmup(d time.Duration) time.Duration { return min(d/10, 200*time.Millisecond) }

// sampleLatency runs op repeatedly for d (at least minSamples times)
// after a warm-up, and times each call.
func sampleLatency(d time.Duration, op func() error) (latency, error) {
	for end := time.Now().Add(warmup(d)); ; {
		if err := op(); err != nil {
			return latency{}, err
		}
		if time.Now().After(end) {
			break
		}
	}
	var lats []time.Duration
	end := time.Now().Add(d)
	for len(lats) < minSamples || time.Now().Before(end) {
		t0 := time.Now()
		if err := op(); err != nil {
			return latency{}, err
		}
		lats = append(lats, time.Since(t0))
	}
	return summarize(lats), nil
}

func summarize(lats []time.Duration) latency {
	slices.Sort(lats)
	return latency{n: len(lats), median: quantile(lats, 0.5), p90: quantile(lats, 0.9)}
}

// quantile of sorted samples, by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// sampleRate runs op on workers goroutines for d after a warm-up and
// returns the units (bytes, reads) they completed per second in total.
func sampleRate(d time.Duration, workers int, op func(w int) (int, error)) (float64, error) {
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		units     atomic.Int64
		wg        sync.WaitGroup
		errOnce   sync.Once
		firstErr  error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				n, err := op(w)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("worker %d: %w", w, err) })
					stop.Store(true)
					return
				}
				if measuring.Load() {
					units.Add(int64(n))
				}
			}
		}()
	}
	time.Sleep(warmup(d))
	// Operations that straddle a boundary are counted when they end; over
	// thousands of operations that evens out.
	units.Store(0)
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(d)
	got := units.Load()
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(got) / elapsed.Seconds(), nil
}
