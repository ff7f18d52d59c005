//go:build linux

package main

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// TestBenchSmoke runs the whole benchmark briefly on both backends, so
// that it keeps working: every figure is measured, and the FUSE request
// counts are what the kernel sent.
func TestBenchSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		swtpmtest.SkipOrFail(t, "mounting needs root")
	}
	swtpmtest.Require(t, "swtpm", "fusermount3")
	var out bytes.Buffer
	runs, err := run(&out, options{backends: []string{"swtpm", "sim"}, duration: 30 * time.Millisecond, rounds: 1, readers: 8})
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	for _, r := range runs {
		rows := r.rows()
		if len(rows) != 13 {
			t.Errorf("%s: %d rows, want 13", r.name, len(rows))
		}
		for _, w := range rows {
			for _, v := range []float64{w.direct, w.mount} {
				if v <= 0 || math.IsInf(v, 0) {
					t.Errorf("%s: %q: figure %v", r.name, w.name, v)
				}
			}
			if !strings.Contains(out.String(), w.name) {
				t.Errorf("%s: row %q not printed", r.name, w.name)
			}
		}
		counts := map[string]fuseCount{}
		for _, c := range r.fuse {
			counts[c.op] = c
		}
		// One pread is one READ; a cat of a path looked up before, even
		// after go-fuse's default timeouts, needs no LOOKUP.
		if c := counts["pread on an open PCR file"]; c.total() != 1 || c.ops["READ"] != 1 {
			t.Errorf("%s: pread cost %v, want one READ", r.name, c)
		}
		for _, op := range []string{"cat pcrs/sha256/00, again", "cat pcrs/sha256/00, 1.5 s later"} {
			if c := counts[op]; c.ops["LOOKUP"] != 0 || c.ops["READ"] == 0 {
				t.Errorf("%s: %s cost %v, want reads and no LOOKUP", r.name, op, c)
			}
		}
	}
}
