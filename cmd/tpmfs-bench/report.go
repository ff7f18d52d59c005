package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// backendRun is everything measured on one backend.
type backendRun struct {
	name, source  string
	note          string
	before, after *directFigures
	mount         *mountFigures
	fuse          []fuseCount
	// targets: the targets are judged on this backend (swtpm).
	targets bool
}

// row is one line of the table. Direct figures are NaN where there is no
// direct counterpart.
type row struct {
	name, unit           string
	before, mount, after float64
	// target is the bound on the ratio tpmfs/direct (or on the tpmfs
	// figure itself when absolute); 0: none.
	target       float64
	higherBetter bool
	absolute     bool
}

var na = math.NaN()

// rows turns a run into table rows, in display units.
func (r *backendRun) rows() []row {
	us := func(l latency) float64 { return float64(l.median) / float64(time.Microsecond) }
	ms := func(l latency) float64 { return float64(l.median) / float64(time.Millisecond) }
	mibs := func(v float64) float64 { return v / (1 << 20) }
	b, a, m := r.before, r.after, r.mount
	return []row{
		{name: "PCR read: pread on an open file vs PCR_Read", unit: "µs", before: us(b.pcrRead), mount: us(m.pread), after: us(a.pcrRead), target: 1.25},
		{name: "PCR read: cat (open+read+close) vs PCR_Read", unit: "µs", before: us(b.pcrRead), mount: us(m.cat), after: us(a.pcrRead)},
		{name: fmt.Sprintf("random: 64 KiB reads vs GetRandom(%d) loop", b.maxRandom), unit: "MiB/s", before: mibs(b.random), mount: mibs(m.random), after: mibs(a.random), target: 0.9, higherBetter: true},
		{name: "8 readers of 8 PCRs vs sequential PCR_Read", unit: "reads/s", before: b.seqReads, mount: m.concurrent, after: a.seqReads, target: 1.5, higherBetter: true},
		{name: "extend: echo DIGEST > pcrs/sha256/16 vs PCR_Extend", unit: "µs", before: us(b.extend), mount: us(m.extend), after: us(a.extend)},
		{name: "seal: write 32 B to seal/NAME/data vs sealing.Seal", unit: "ms", before: ms(b.seal), mount: ms(m.seal), after: ms(a.seal)},
		{name: "unseal: cat seal/NAME/data vs sealing.Unseal", unit: "ms", before: ms(b.unseal), mount: ms(m.unseal), after: ms(a.unseal)},
		{name: "mount ready: exec to READY=1", unit: "ms", before: na, mount: float64(m.ready) / float64(time.Millisecond), after: na},
		{name: "daemon peak RSS (VmHWM) after all the above", unit: "MiB", before: na, mount: float64(m.peakRSS) / (1 << 20), after: na, target: 64, absolute: true},
	}
}

// ratio is tpmfs over the mean of the two direct runs.
func (w row) ratio() float64 {
	if w.absolute || math.IsNaN(w.before) {
		return na
	}
	return w.mount / ((w.before + w.after) / 2)
}

// drift is how far the second direct run moved from the first.
func (w row) drift() float64 { return (w.after - w.before) / w.before }

// verdict judges the row against its target; "" when there is none.
func (w row) verdict() string {
	if w.target == 0 {
		return ""
	}
	v := w.ratio()
	if w.absolute {
		v = w.mount
	}
	ok := v <= w.target
	if w.higherBetter {
		ok = v >= w.target
	}
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func (w row) targetText() string {
	switch {
	case w.target == 0:
		return ""
	case w.absolute:
		return fmt.Sprintf("≤ %g %s", w.target, w.unit)
	case w.higherBetter:
		return fmt.Sprintf("≥ %.2f×", w.target)
	}
	return fmt.Sprintf("≤ %.2f×", w.target)
}

// print writes the run as a table.
func (r *backendRun) print(out io.Writer) {
	fmt.Fprintf(out, "\n== %s (%s) ==\n", r.name, r.source)
	if r.note != "" {
		fmt.Fprintln(out, r.note)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement (medians)\tunit\tdirect before\ttpmfs\tdirect after\tratio\tdrift\ttarget\tverdict\t")
	for _, w := range r.rows() {
		verdict, target := w.verdict(), w.targetText()
		if !r.targets {
			verdict, target = "", ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", w.name, w.unit,
			num(w.before), num(w.mount), num(w.after), num(w.ratio()), pct(w.drift()), target, verdict)
	}
	tw.Flush()
	if len(r.fuse) > 0 {
		fmt.Fprintln(out, "FUSE requests per operation (from a mount at --log-level trace):")
		for _, c := range r.fuse {
			fmt.Fprintf(out, "  %-30s %s\n", c.op+":", c)
		}
	}
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*v)
}
