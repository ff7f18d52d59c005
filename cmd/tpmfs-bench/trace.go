//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

// fuseCount is how many FUSE requests of each kind one operation cost.
type fuseCount struct {
	op  string
	ops map[string]int
}

// interrupt is not tpmfs's doing: the kernel sends it when the calling
// thread gets a signal (the Go runtime preempts with signals), and again
// while go-fuse has not yet seen the request it interrupts.
const interrupt = "INTERRUPT"

// total counts the requests the operation itself costs.
func (c fuseCount) total() int {
	n := 0
	for k, v := range c.ops {
		if k != interrupt {
			n += v
		}
	}
	return n
}

// String renders "OPEN READ×2 FLUSH RELEASE (5)".
func (c fuseCount) String() string {
	names := make([]string, 0, len(c.ops))
	for k := range c.ops {
		if k != interrupt {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return opOrder(names[i]) < opOrder(names[j]) })
	var b strings.Builder
	for _, k := range names {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		if c.ops[k] > 1 {
			fmt.Fprintf(&b, "×%d", c.ops[k])
		}
	}
	fmt.Fprintf(&b, " (%d)", c.total())
	if n := c.ops[interrupt]; n > 0 {
		fmt.Fprintf(&b, ", and %d INTERRUPT for signals to the reader", n)
	}
	return b.String()
}

// opOrder lists requests in the order a file's life sees them.
func opOrder(op string) int {
	for i, o := range []string{"LOOKUP", "GETATTR", "OPEN", "SETATTR", "READ", "WRITE", "FLUSH", "RELEASE"} {
		if o == op {
			return i
		}
	}
	return 100
}

// markName names the marker lookup that ends step i in the trace.
func markName(i int) string { return fmt.Sprintf(".tpmfs-bench-mark-%d-", i) }

// countRequests mounts with FUSE tracing on (--log-level trace) and counts
// the requests that one cat, one pread, one 64 KiB random read and one
// extend cost. Each step is followed by the lookup of a name that does
// not exist, which marks the step's end in the daemon's log.
func countRequests(bin, source, work string) ([]fuseCount, error) {
	d, err := mountDaemon(bin, source, work, "", "trace")
	if err != nil {
		return nil, err
	}
	defer d.kill()
	digest := sha256.Sum256([]byte("tpmfs-bench"))
	extendLine := []byte(hex.EncodeToString(digest[:]) + "\n")
	var pcr, rnd *os.File
	steps := []struct {
		name string
		do   func() error
	}{
		{"", func() error { return nil }},
		{"cat pcrs/sha256/00, first", func() error { return catPCR(pcrPath(d, 0)) }},
		{"cat pcrs/sha256/00, again", func() error { return catPCR(pcrPath(d, 0)) }},
		// Past go-fuse's default 1 s entry and attribute timeouts.
		{"", func() error { time.Sleep(1500 * time.Millisecond); return nil }},
		{"cat pcrs/sha256/00, 1.5 s later", func() error { return catPCR(pcrPath(d, 0)) }},
		{"", func() (err error) { pcr, err = os.Open(pcrPath(d, 1)); return err }},
		{"pread on an open PCR file", func() error { return preadPCR(int(pcr.Fd()), make([]byte, 256), pcr.Name()) }},
		{"", func() (err error) { rnd, err = os.Open(d.path("random")); return err }},
		{"read 64 KiB of random", func() error { _, err := io.ReadFull(rnd, make([]byte, randomRead64)); return err }},
		{"", func() error { pcr.Close(); rnd.Close(); return nil }},
		{"echo DIGEST > pcrs/sha256/16", func() error { return os.WriteFile(pcrPath(d, extendPCR), extendLine, 0o644) }},
	}
	for i, s := range steps {
		runtime.Gosched() // see sampleLatency: no preemption signal inside a step
		if err := s.do(); err != nil {
			return nil, fmt.Errorf("trace %q: %w", s.name, err)
		}
		// Release is sent after close returns; let it arrive first.
		time.Sleep(20 * time.Millisecond)
		if _, err := os.Stat(d.path(markName(i))); !os.IsNotExist(err) {
			return nil, fmt.Errorf("marker lookup %s: %v, want ENOENT", markName(i), err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	log := d.stderr.String()
	var out []fuseCount
	for i, s := range steps {
		if s.name == "" {
			continue
		}
		ops, err := requestsBetween(log, markName(i-1), markName(i))
		if err != nil {
			return nil, fmt.Errorf("trace %q: %w", s.name, err)
		}
		out = append(out, fuseCount{op: s.name, ops: ops})
	}
	if err := d.unmount(); err != nil {
		return nil, err
	}
	return out, nil
}

// rxLine matches go-fuse's debug line for a received request.
var rxLine = regexp.MustCompile(`\brx \d+: ([A-Z_]+)\b`)

// requestsBetween counts the requests logged after the line naming from
// and before the line naming to.
func requestsBetween(log, from, to string) (map[string]int, error) {
	ops := map[string]int{}
	in := false
	for line := range strings.Lines(log) {
		switch {
		case strings.Contains(line, from):
			in = true
			continue
		case strings.Contains(line, to):
			if !in {
				return nil, fmt.Errorf("marker %q logged before %q", to, from)
			}
			return ops, nil
		}
		if m := rxLine.FindStringSubmatch(line); in && m != nil {
			ops[m[1]]++
		}
	}
	return nil, fmt.Errorf("markers %q…%q not in the daemon's log (is FUSE tracing on at --log-level trace?)", from, to)
}
