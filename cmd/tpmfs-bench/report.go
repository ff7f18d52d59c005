//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// backendRun is everything measured on one backend: the direct client's
// rounds (one more than the mount's, before and after each), the mount's
// rounds, the daemon's peak RSS and the FUSE request counts.
type backendRun struct {
	name, source, note string
	// targets: the targets are judged on this backend (swtpm).
	targets bool
	// profile names the latency model both sides ran through ("" none).
	profile string
	only    set
	readers int
	chunk   int // bytes per GetRandom
	direct  []*figures
	mount   []*figures
	peakRSS uint64 // bytes, the highest VmHWM of the daemons
	fuse    []fuseCount
}

// row is one line of the table; NaN where there is nothing to show.
type row struct {
	key                 string // the measurement (-only) it shows
	name, unit          string
	first, last, direct float64 // direct client: first round, last round, all rounds
	mount               float64 // all mount rounds
	// target bounds the ratio tpmfs/direct, or the tpmfs figure itself
	// when absolute; 0: none.
	target       float64
	higherBetter bool
	absolute     bool
}

var na = math.NaN()

// msTime is a figure in milliseconds.
const msTime = time.Millisecond

// metric says how a row is computed from figures.
type metric struct {
	key, name, unit string
	direct, mount   string        // figure names; direct "": no direct counterpart
	per             time.Duration // latency: display unit; 0: a rate
	rateScale       float64       // rate: units per display unit
	// fn, if set, computes the figure instead (direct and mount name
	// what it is computed from).
	fn           func(f *figures, name string) float64
	target       float64
	higherBetter bool
	absolute     bool // the target bounds the tpmfs figure, not the ratio
}

// goals are the targets on plain swtpm and on a modelled TPM.
type goals struct {
	pread, readers, seal, unseal, swaps float64
}

func (r *backendRun) goals() goals {
	switch r.profile {
	case "":
		return goals{pread: 1.25, readers: 1.5}
	case "dtpm":
		return goals{pread: 1.05, readers: 6, seal: 120, unseal: 50, swaps: 10}
	}
	return goals{} // other models: for comparison only
}

func (r *backendRun) metrics() []metric {
	tg := r.goals()
	us := time.Microsecond
	unit := "µs"
	if r.profile != "" {
		us, unit = msTime, "ms"
	}
	return []metric{
		{key: "pcr", name: "PCR read: pread on an open file vs PCR_Read", unit: unit, direct: "pcr", mount: "pcr", per: us, target: tg.pread},
		{key: "cat", name: "PCR read: cat (open+read+close) vs PCR_Read", unit: unit, direct: "pcr", mount: "cat", per: us},
		{key: "random", name: fmt.Sprintf("random: %d KiB reads vs GetRandom(%d) loop", r.randomKiB(), r.chunk), unit: "KiB/s", direct: "random", mount: "random", rateScale: 1 << 10, target: 0.9, higherBetter: true},
		{key: "readers", name: fmt.Sprintf("%d readers of %d PCRs vs sequential PCR_Read", r.readers, r.readers), unit: "reads/s", direct: "readers", mount: "readers", rateScale: 1, target: tg.readers, higherBetter: true},
		{key: "extend", name: "extend: echo DIGEST > pcrs/sha256/16 vs PCR_Extend", unit: unit, direct: "extend", mount: "extend", per: us},
		{key: "seal", name: "seal: write 32 B to seal/NAME/data vs Keeper.Seal", unit: "ms", direct: "seal", mount: "seal", per: msTime, target: tg.seal, absolute: tg.seal != 0},
		{key: "seal", name: "unseal: cat seal/NAME/data vs Keeper.Unseal", unit: "ms", direct: "unseal", mount: "unseal", per: msTime, target: tg.unseal, absolute: tg.unseal != 0},
		{key: "seal", name: "first seal after the mount", unit: "ms", mount: "seal-cold", per: msTime},
		{key: "seal", name: "first unseal after a new mount", unit: "ms", mount: "unseal-cold", per: msTime},
		{key: "creds", name: "systemd-creds decrypt: through tpmrm0 vs on the TPM alone", unit: "ms", direct: "creds", mount: "creds", per: msTime},
		{key: "creds", name: "  its ContextSave+ContextLoad, share of modelled TPM time", unit: "%", direct: "creds", mount: "creds", fn: swapShare, target: tg.swaps, absolute: tg.swaps != 0},
		{name: "mount ready: exec to READY=1", unit: "ms", mount: "ready", per: msTime},
	}
}

// randomKiB is the size of one read of random.
func (r *backendRun) randomKiB() int {
	if r.profile != "" {
		return 4
	}
	return randomRead64 >> 10
}

// value of a metric on figures, in display units.
func (m metric) value(f *figures, name string) float64 {
	if name == "" {
		return na
	}
	if m.fn != nil {
		return m.fn(f, name)
	}
	if m.per != 0 {
		return f.median(name) / float64(m.per)
	}
	return f.perSec(name) / m.rateScale
}

// rows turns the run into table rows, in display units.
func (r *backendRun) rows() []row {
	all, mount := newFigures(), newFigures()
	for _, f := range r.direct {
		all.merge(f)
	}
	for _, f := range r.mount {
		mount.merge(f)
	}
	var rows []row
	for _, m := range r.metrics() {
		if m.key != "" && !r.only.has(m.key) {
			continue
		}
		rows = append(rows, row{
			key: m.key, name: m.name, unit: m.unit,
			first:  m.value(r.direct[0], m.direct),
			last:   m.value(r.direct[len(r.direct)-1], m.direct),
			direct: m.value(all, m.direct),
			mount:  m.value(mount, m.mount),
			target: m.target, higherBetter: m.higherBetter, absolute: m.absolute,
		})
	}
	return append(rows, row{name: "daemon peak RSS (VmHWM) over all rounds", unit: "MiB",
		first: na, last: na, direct: na, mount: float64(r.peakRSS) / (1 << 20), target: 64, absolute: true})
}

// ratio is tpmfs over the direct client, both over all rounds.
func (w row) ratio() float64 { return w.mount / w.direct }

// drift is how far the direct client's last round moved from its first.
func (w row) drift() float64 { return (w.last - w.first) / w.first }

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
	fmt.Fprintf(out, "\n== %s (%s), %d rounds ==\n", r.name, r.source, len(r.mount))
	if r.note != "" {
		fmt.Fprintln(out, r.note)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tunit\tdirect\ttpmfs\tratio\tdirect first\tdirect last\tdrift\ttarget\tverdict\t")
	for _, w := range r.rows() {
		verdict, target := w.verdict(), w.targetText()
		if !r.targets {
			verdict, target = "", ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", w.name, w.unit,
			num(w.direct), num(w.mount), num(w.ratio()), num(w.first), num(w.last), pct(w.drift()), target, verdict)
	}
	tw.Flush()
	r.printCommands(out)
	r.diagnostics(out)
	if len(r.fuse) > 0 {
		fmt.Fprintln(out, "FUSE requests per operation (from a mount at --log-level trace):")
		for _, c := range r.fuse {
			fmt.Fprintf(out, "  %-34s %s\n", c.op+":", c)
		}
	}
}

func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func pct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*v)
}

// diagnostics prints what explains the PCR read figures: the spread of
// the latencies, the cost of a FUSE round trip alone, and the daemon's CPU
// time per read.
func (r *backendRun) diagnostics(out io.Writer) {
	direct, mount := newFigures(), newFigures()
	for _, f := range r.direct {
		direct.merge(f)
	}
	for _, f := range r.mount {
		mount.merge(f)
	}
	us := func(v float64) string { return num(v / float64(time.Microsecond)) }
	spread := func(f *figures, name string) string {
		return us(f.quantile(name, 0.1)) + " / " + us(f.quantile(name, 0.5)) + " / " + us(f.quantile(name, 0.9))
	}
	if len(mount.lat["pcr"]) == 0 && len(mount.cpu) == 0 {
		return
	}
	fmt.Fprintln(out, "diagnostics:")
	if len(mount.lat["pcr"]) > 0 {
		fmt.Fprintf(out, "  PCR read latency p10 / median / p90: pread %s µs; direct PCR_Read %s µs\n",
			spread(mount, "pcr"), spread(direct, "pcr"))
		fmt.Fprintf(out, "  FUSE round trip that sends no TPM command (pread past the end): median %s µs\n", us(mount.median("floor")))
	}
	var cpu []string
	if v := mount.cpuPerOp("pcr"); !math.IsNaN(v) {
		cpu = append(cpu, "per pread "+us(v)+" µs")
	}
	if v := mount.cpuPerOp("readers"); !math.IsNaN(v) {
		cpu = append(cpu, fmt.Sprintf("per read with %d readers %s µs", r.readers, us(v)))
	}
	if len(cpu) > 0 {
		fmt.Fprintf(out, "  daemon CPU time: %s\n", strings.Join(cpu, "; "))
	}
}
