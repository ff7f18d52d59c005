//go:build linux

package main

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestFiguresMedianAndMerge(t *testing.T) {
	// 1…100 ms in random order, split over two rounds: the nearest-rank
	// median of the whole is 50 ms, whatever the split.
	lats := make([]time.Duration, 100)
	for i := range lats {
		lats[i] = time.Duration(i+1) * time.Millisecond
	}
	rand.Shuffle(len(lats), func(i, j int) { lats[i], lats[j] = lats[j], lats[i] })
	a, b := newFigures(), newFigures()
	a.lat["x"], b.lat["x"] = lats[:30], lats[30:]
	a.rates["r"], b.rates["r"] = rate{100, 1}, rate{500, 3}
	all := newFigures()
	all.merge(a)
	all.merge(b)
	if got := all.median("x"); got != float64(50*time.Millisecond) {
		t.Fatalf("median of 1…100 ms = %v, want 50ms", time.Duration(got))
	}
	if got := all.perSec("r"); got != 150 {
		t.Fatalf("600 units in 4 s = %v/s, want 150", got)
	}
	if !math.IsNaN(all.median("missing")) || !math.IsNaN(all.perSec("missing")) {
		t.Fatal("a figure never measured is not NaN")
	}
}

func TestSampleLatencyMinSamples(t *testing.T) {
	calls := 0
	lats, err := sampleLatency(time.Nanosecond, func() error { calls++; return nil })
	if err != nil || len(lats) < minSamples || calls < len(lats)+1 {
		t.Fatalf("sampleLatency(1ns): %d samples, %v after %d calls; want at least %d after a warm-up call", len(lats), err, calls, minSamples)
	}
}
