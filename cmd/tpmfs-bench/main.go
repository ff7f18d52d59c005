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
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"tpmfs/tddl"
)

// options are the command line.
type options struct {
	backends []string
	duration time.Duration
	tpmfs    string // binary; "" builds ./cmd/tpmfs
	readers  int
	check    bool // exit 1 when a target fails
}

func main() {
	var o options
	backend := flag.String("backend", "both", "`swtpm`, sim or both")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "how long each measurement runs")
	flag.StringVar(&o.tpmfs, "tpmfs", "", "tpmfs `binary` to mount with (default: go build tpmfs/cmd/tpmfs)")
	flag.IntVar(&o.readers, "readers", 8, "concurrent `readers` (one PCR each, at most 24)")
	flag.BoolVar(&o.check, "check", false, "exit with status 1 when a target is missed")
	flag.Parse()
	switch *backend {
	case "both":
		o.backends = []string{"swtpm", "sim"}
	case "swtpm", "sim":
		o.backends = []string{*backend}
	default:
		fmt.Fprintf(os.Stderr, "tpmfs-bench: -backend %q: want swtpm, sim or both\n", *backend)
		os.Exit(2)
	}
	if flag.NArg() > 0 || o.readers < 1 || o.readers > 24 || o.duration <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	// The simulator logs a warning on every open; the table is the output.
	logrus.SetLevel(logrus.ErrorLevel)
	failed, err := run(os.Stdout, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tpmfs-bench:", err)
		os.Exit(1)
	}
	if failed && o.check {
		os.Exit(1)
	}
}

// run measures every backend in o and prints one table each. failed
// reports a missed target.
func run(out io.Writer, o options) (failed bool, err error) {
	work, err := os.MkdirTemp("", "tpmfs-bench")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(work)
	bin := o.tpmfs
	if bin == "" {
		bin = filepath.Join(work, "tpmfs")
		build := exec.Command("go", "build", "-o", bin, "tpmfs/cmd/tpmfs")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return false, fmt.Errorf("build tpmfs (or give -tpmfs): %w", err)
		}
	}
	fmt.Fprintln(out, machine())
	fmt.Fprintf(out, "%v per measurement after a warm-up; latencies are medians; ratio = tpmfs / mean of the two direct runs\n", o.duration)
	for _, b := range o.backends {
		dir, err := os.MkdirTemp(work, b)
		if err != nil {
			return failed, err
		}
		var r *backendRun
		if b == "swtpm" {
			r, err = runSwtpm(bin, dir, o)
		} else {
			r, err = runSim(bin, dir, o)
		}
		if err != nil {
			return failed, fmt.Errorf("%s: %w", b, err)
		}
		r.print(out)
		for _, w := range r.rows() {
			failed = failed || (r.targets && w.verdict() == "FAIL")
		}
	}
	return failed, nil
}

// runSwtpm: direct, mount, direct again, all on one swtpm; it serves one
// client at a time, so they take turns.
func runSwtpm(bin, work string, o options) (*backendRun, error) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		return nil, fmt.Errorf("swtpm not installed: %w", err)
	}
	state := filepath.Join(work, "swtpm-state")
	if err := os.Mkdir(state, 0o700); err != nil {
		return nil, err
	}
	s, err := startSwtpm(state)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	cfg := tddl.Config{Kind: tddl.KindSwtpm, Host: "127.0.0.1", Port: s.port}
	r := &backendRun{name: "swtpm", source: s.source(), targets: true,
		note: "direct: go-tpm typed commands on one tddl swtpm connection (no queue, no FUSE)"}
	return r, measure(r, bin, work, cfg, o)
}

// runSim: the daemon's simulator lives inside the daemon, so the direct
// baseline is another simulator inside this process.
func runSim(bin, work string, o options) (*backendRun, error) {
	r := &backendRun{name: "sim", source: "sim:",
		note: "direct: go-tpm on a separate in-process simulator in this bench process (the daemon has its own); no targets on sim"}
	return r, measure(r, bin, work, tddl.Config{Kind: tddl.KindSim}, o)
}

func measure(r *backendRun, bin, work string, cfg tddl.Config, o options) error {
	var err error
	if r.before, err = runDirect(cfg, o.duration, o.readers); err != nil {
		return fmt.Errorf("direct, before the mount: %w", err)
	}
	d, err := mountDaemon(bin, r.source, work, "warning")
	if err != nil {
		return err
	}
	r.mount, err = runMount(d, o.duration, o.readers)
	if uerr := d.unmount(); err == nil && uerr != nil {
		err = uerr
	}
	if err != nil {
		d.kill()
		return fmt.Errorf("through the mount: %w\ndaemon log:\n%s", err, d.stderr.String())
	}
	if r.after, err = runDirect(cfg, o.duration, o.readers); err != nil {
		return fmt.Errorf("direct, after the mount: %w", err)
	}
	r.fuse, err = countRequests(bin, r.source, work)
	return err
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
	var u syscall.Utsname
	kernel := "?"
	if syscall.Uname(&u) == nil {
		kernel = cstring(u.Release[:])
	}
	load, _ := os.ReadFile("/proc/loadavg")
	swtpm := "swtpm not installed"
	if v, err := exec.Command("swtpm", "--version").Output(); err == nil {
		swtpm, _, _ = strings.Cut(strings.TrimSpace(string(v)), ",")
	}
	return fmt.Sprintf("machine: %s, %d CPUs, Linux %s, %s, %s, load average %s",
		model, runtime.NumCPU(), kernel, runtime.Version(), swtpm, strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
}

func cstring(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
