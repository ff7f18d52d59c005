//go:build linux

package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"tpmfs/tddl/latency"
	"tpmfs/tddl/source"
)

// options are the command line.
type options struct {
	backends []string
	duration time.Duration // per measurement and round
	rounds   int           // mount rounds, each between two direct ones
	tpmfs    string        // binary; "" builds ./cmd/tpmfs
	readers  int
	check    bool // exit 1 when a target fails
	only     set  // measurements to run; nil: all
	// profile, if set, puts a latency model of that TPM between swtpm
	// and both clients (-tpm-profile); meter then counts its commands.
	profile *latency.Profile
	meter   *meter
	// pprof, if set, is where the daemons write CPU and allocation
	// profiles (a tpmfs built with -tags tpmfs_pprof).
	pprof string
}

// randomRead is the read size on the random file (head -c, dd bs=64k):
// 64 KiB, or 4 KiB on a modelled TPM, where 64 KiB take seconds.
func (o options) randomRead() int {
	if o.profile != nil {
		return 4 << 10
	}
	return randomRead64
}

// randomRead64 is the size of a large read of random.
const randomRead64 = 64 << 10

// set is a set of measurement names.
type set map[string]bool

// has reports whether name is in s; a nil set has everything.
func (s set) has(name string) bool { return s == nil || s[name] }

// measurements are the names -only accepts, in table order.
var measurements = []string{"pcr", "cat", "random", "readers", "extend", "seal", "creds", "fuse"}

func main() {
	var o options
	backend := flag.String("backend", "both", "`swtpm`, sim or both")
	flag.DurationVar(&o.duration, "duration", time.Second, "how long each measurement runs in each round")
	flag.IntVar(&o.rounds, "rounds", 3, "mount `rounds`; the direct client runs before, between and after them")
	flag.StringVar(&o.tpmfs, "tpmfs", "", "tpmfs `binary` to mount with (default: go build tpmfs/cmd/tpmfs)")
	flag.IntVar(&o.readers, "readers", 8, "concurrent `readers` (one PCR each, at most 24)")
	flag.BoolVar(&o.check, "check", false, "exit with status 1 when a target is missed")
	only := flag.String("only", "", "comma-separated `measurements` to run: "+strings.Join(measurements, ", ")+" (default: all)")
	flag.StringVar(&o.pprof, "pprof", "", "build tpmfs with profiling and have each mounted daemon write its CPU and allocation profiles into `dir`")
	profile := flag.String("tpm-profile", "", "run every measurement through a latency model of a `TPM`: "+strings.Join(latency.Profiles(), " or ")+
		" (swtpm only; reports modelled milliseconds and the TPM commands of each operation)")
	flag.Parse()
	if *only != "" {
		o.only = set{}
		for _, m := range strings.Split(*only, ",") {
			if !slices.Contains(measurements, m) {
				fmt.Fprintf(os.Stderr, "tpmfs-bench: -only %q: unknown measurement %q\n", *only, m)
				os.Exit(2)
			}
			o.only[m] = true
		}
	}
	switch *backend {
	case "both":
		o.backends = []string{"swtpm", "sim"}
	case "swtpm", "sim":
		o.backends = []string{*backend}
	default:
		fmt.Fprintf(os.Stderr, "tpmfs-bench: -backend %q: want swtpm, sim or both\n", *backend)
		os.Exit(2)
	}
	if *profile != "" {
		p, ok := latency.Lookup(*profile)
		if !ok {
			fmt.Fprintf(os.Stderr, "tpmfs-bench: -tpm-profile %q: want %s\n", *profile, strings.Join(latency.Profiles(), " or "))
			os.Exit(2)
		}
		if *backend == "sim" {
			fmt.Fprintln(os.Stderr, "tpmfs-bench: -tpm-profile needs swtpm: the simulator lives inside the daemon")
			os.Exit(2)
		}
		o.profile, o.backends = p, []string{"swtpm"}
	}
	if flag.NArg() > 0 || o.readers < 1 || o.readers > 24 || o.duration <= 0 || o.rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	// The simulator logs a warning on every open; the table is the output.
	logrus.SetLevel(logrus.ErrorLevel)
	runs, err := run(os.Stdout, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tpmfs-bench:", err)
		os.Exit(1)
	}
	if o.check && missed(runs) {
		os.Exit(1)
	}
}

// missed reports whether a run missed one of its targets.
func missed(runs []*backendRun) bool {
	for _, r := range runs {
		for _, w := range r.rows() {
			if r.targets && w.verdict() == "FAIL" {
				return true
			}
		}
	}
	return false
}

// run measures every backend in o and prints one table each.
func run(out io.Writer, o options) ([]*backendRun, error) {
	work, err := os.MkdirTemp("", "tpmfs-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	bin := o.tpmfs
	if o.pprof != "" {
		if err := os.MkdirAll(o.pprof, 0o755); err != nil {
			return nil, err
		}
		// The daemons inherit it (pprof.go in cmd/tpmfs).
		os.Setenv("TPMFS_PROFILE", o.pprof)
	}
	if bin == "" {
		bin = filepath.Join(work, "tpmfs")
		build := exec.Command("go", "build", "-tags", "tpmfs_pprof", "-o", bin, "tpmfs/cmd/tpmfs")
		if o.pprof == "" {
			build = exec.Command("go", "build", "-o", bin, "tpmfs/cmd/tpmfs")
		}
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build tpmfs (or give -tpmfs): %w", err)
		}
	}
	fmt.Fprintln(out, machine())
	fmt.Fprintf(out, "%v per measurement and round, after a warm-up; latencies are medians over all rounds;\n"+
		"ratio = tpmfs / direct; drift = direct client's last round against its first\n", o.duration)
	var runs []*backendRun
	for _, b := range o.backends {
		dir, err := os.MkdirTemp(work, b)
		if err != nil {
			return runs, err
		}
		var r *backendRun
		if b == "swtpm" {
			r, err = runSwtpm(bin, dir, o)
		} else {
			r, err = runSim(bin, dir, o)
		}
		if err != nil {
			return runs, fmt.Errorf("%s: %w", b, err)
		}
		r.print(out)
		runs = append(runs, r)
	}
	return runs, nil
}

// runSwtpm: the direct client and the mount take turns on one swtpm,
// which serves one client at a time.
func runSwtpm(bin, work string, o options) (*backendRun, error) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		return nil, fmt.Errorf("swtpm not installed: %w", err)
	}
	dir := filepath.Join(work, "swtpm")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	s, err := startSwtpm(dir)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	cfg := source.Config{Kind: source.Swtpm, Host: "127.0.0.1", Port: s.Port}
	r := &backendRun{name: "swtpm", source: s.Source(), targets: true,
		note: "direct: go-tpm typed commands on one tddl swtpm connection (no queue, no FUSE)"}
	if o.profile != nil {
		proxy, err := startModelProxy(cfg, o.profile)
		if err != nil {
			return nil, err
		}
		defer proxy.close()
		cfg = proxy.source()
		o.meter = &meter{model: proxy.model}
		r.name, r.profile = "swtpm as "+o.profile.Name, o.profile.Name
		r.source = fmt.Sprintf("swtpm:port=%d, through the %s latency model at swtpm:port=%d", s.Port, o.profile.Name, cfg.Port)
		r.note = "direct and tpmfs both talk to swtpm through one latency model in this process: every command takes as long as\n" +
			"on a modelled " + o.profile.Name + " (tddl/latency/profiles.tsv); direct: go-tpm typed commands on one connection (no queue, no FUSE)"
	}
	return r, measure(r, bin, work, cfg, o)
}

// runSim: the daemon's simulator lives inside the daemon, so the direct
// baseline is another simulator inside this process.
func runSim(bin, work string, o options) (*backendRun, error) {
	r := &backendRun{name: "sim", source: "sim:",
		note: "direct: go-tpm on a separate in-process simulator in this bench process (the daemon has its own); no targets on sim"}
	return r, measure(r, bin, work, source.Config{Kind: source.Sim}, o)
}

func measure(r *backendRun, bin, work string, cfg source.Config, o options) error {
	r.only, r.readers = o.only, o.readers
	for round := 1; ; round++ {
		f, chunk, err := runDirect(cfg, o)
		if err != nil {
			return fmt.Errorf("direct client, round %d: %w", round, err)
		}
		r.direct, r.chunk = append(r.direct, f), chunk
		if round > o.rounds {
			break
		}
		m, rss, err := mountRound(bin, cfg.String(), work, o)
		if err != nil {
			return fmt.Errorf("through the mount, round %d: %w", round, err)
		}
		r.mount, r.peakRSS = append(r.mount, m), max(r.peakRSS, rss)
	}
	if o.only.has("fuse") {
		var err error
		if r.fuse, err = countRequests(bin, cfg.String(), work); err != nil {
			return err
		}
	}
	return nil
}

// mountRound mounts, measures through the files, reads the daemon's peak
// RSS and unmounts.
func mountRound(bin, source, work string, o options) (*figures, uint64, error) {
	d, err := mountDaemon(bin, source, work, "", "warning")
	if err != nil {
		return nil, 0, err
	}
	f, err := runMount(d, o)
	var rss uint64
	if err == nil {
		if rss, err = d.peakRSS(); err != nil {
			err = fmt.Errorf("daemon peak RSS: %w", err)
		}
	}
	if err != nil {
		d.kill()
		return nil, 0, fmt.Errorf("%w\ndaemon log:\n%s", err, d.stderr.String())
	}
	if err := d.unmount(); err != nil {
		return nil, 0, err
	}
	if o.only.has("seal") && !strings.HasPrefix(source, "sim:") {
		// The first unseal after a mount: the daemon has nothing kept yet.
		// (A simulator does not outlive its daemon.)
		if d, err = mountDaemon(bin, source, work, d.state, "warning"); err != nil {
			return nil, 0, err
		}
		err := f.once("unseal-cold", o.meter, func() error { return unsealFile(d.path("seal", "bench", "data"), benchSecret()) })
		if err != nil {
			d.kill()
			return nil, 0, fmt.Errorf("unseal after a new mount: %w\ndaemon log:\n%s", err, d.stderr.String())
		}
		if rss2, err := d.peakRSS(); err == nil {
			rss = max(rss, rss2)
		}
		if err := d.unmount(); err != nil {
			return nil, 0, err
		}
	}
	return f, rss, nil
}

// machine describes where the figures come from.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	loads := strings.Fields(string(load))
	loads = loads[:min(3, len(loads))]
	swtpm := "swtpm not installed"
	if v, err := exec.Command("swtpm", "--version").Output(); err == nil {
		swtpm, _, _ = strings.Cut(strings.TrimSpace(string(v)), ",")
	}
	return fmt.Sprintf("machine: %s, %d CPUs, Linux %s, %s, %s, load average %s", model, runtime.NumCPU(),
		strings.TrimSpace(string(kernel)), runtime.Version(), swtpm, strings.Join(loads, " "))
}
