package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	// 1…100 ms in random order: the nearest-rank median is 50 ms, the
	// 90th percentile 90 ms.
	lats := make([]time.Duration, 100)
	for i := range lats {
		lats[i] = time.Duration(i+1) * time.Millisecond
	}
	rand.Shuffle(len(lats), func(i, j int) { lats[i], lats[j] = lats[j], lats[i] })
	got := summarize(lats)
	if got.n != 100 || got.median != 50*time.Millisecond || got.p90 != 90*time.Millisecond {
		t.Fatalf("summarize(1…100 ms) = %+v, want n 100, median 50ms, p90 90ms", got)
	}
	if one := summarize([]time.Duration{7}); one.median != 7 || one.p90 != 7 {
		t.Fatalf("summarize of one sample = %+v", one)
	}
}

func TestSampleLatencyMinSamples(t *testing.T) {
	calls := 0
	l, err := sampleLatency(time.Nanosecond, func() error { calls++; return nil })
	if err != nil || l.n < minSamples || calls < l.n+1 {
		t.Fatalf("sampleLatency(1ns) = %+v, %v after %d calls; want at least %d samples after a warm-up call", l, err, calls, minSamples)
	}
}
