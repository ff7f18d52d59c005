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
	"tpmfs/tddl/latency"
)

// TestBenchSmoke runs the whole benchmark briefly on both backends, so
// that it keeps working: every figure is measured, and the FUSE request
// counts are what the kernel sent.
func TestBenchSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		swtpmtest.SkipOrFail(t, "mounting needs root")
	}
	swtpmtest.Require(t, "swtpm", "fusermount3", "systemd-creds")
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
				if r.name == "sim" && w.name == "first unseal after a new mount" {
					continue // a simulator does not outlive its daemon
				}
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

// TestBenchModelledSmoke runs the measurements with a latency model
// briefly: each operation's TPM commands are counted on both sides, and
// what tpmfs sends for a warm unseal is what package sealing pins.
func TestBenchModelledSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		swtpmtest.SkipOrFail(t, "mounting needs root")
	}
	swtpmtest.Require(t, "swtpm", "fusermount3", "systemd-creds")
	p, _ := latency.Lookup("dtpm")
	var out bytes.Buffer
	o := options{backends: []string{"swtpm"}, duration: 30 * time.Millisecond, rounds: 1, readers: 8,
		profile: p, only: set{"pcr": true, "seal": true, "creds": true}}
	runs, err := run(&out, o)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	mount := newFigures()
	for _, f := range runs[0].mount {
		mount.merge(f)
	}
	unseal := mount.tpm["unseal"]
	if got, want := commandList(unseal), "Load PolicyPCR Unseal StartAuthSession(unsalted) FlushContext = 37.0 ms"; got != want {
		t.Errorf("warm unseal through the mount: %s, want %s", got, want)
	}
	for _, name := range []string{"pcr", "seal", "unseal", "seal-cold", "unseal-cold", "creds"} {
		if c := mount.tpm[name]; c.ops == 0 || c.stats.Commands() == 0 {
			t.Errorf("%s: no TPM commands counted", name)
		}
	}
	if !strings.Contains(out.String(), "TPM commands per operation") {
		t.Error("no command table printed")
	}
}
