//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseVmHWM(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  bool
	}{
		{in: "Name:\tx\nVmPeak:\t  9 kB\nVmHWM:\t   13332 kB\nVmRSS:\t 1 kB\n", want: 13332 * 1024},
		{in: "VmHWM: 0 kB", want: 0},
		{in: "VmHWM:\t12 MB\n", err: true},
		{in: "VmHWM:\t-3 kB\n", err: true},
		{in: "VmHWM:\n", err: true},
		{in: "Name:\tkthreadd\n", err: true},
	} {
		got, err := parseVmHWM([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseVmHWM(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if _, err := parseVmHWM([]byte("Name:\tkthreadd\n")); !errors.Is(err, errNoVmHWM) {
		t.Errorf("no VmHWM line: error %v, want errNoVmHWM", err)
	}
}

// TestParseVmHWMSelf reads this process's own status; the independent
// figure is the kernel's VmRSS, which can never exceed the peak.
func TestParseVmHWMSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	hwm, err := parseVmHWM(b)
	if err != nil {
		t.Fatal(err)
	}
	var rssKB uint64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d kB", &rssKB)
		}
	}
	if rssKB == 0 || hwm < rssKB*1024 {
		t.Fatalf("VmHWM %d bytes below VmRSS %d kB", hwm, rssKB)
	}
}

func FuzzParseVmHWM(f *testing.F) {
	f.Add([]byte("VmHWM:\t   13332 kB\n"))
	f.Add([]byte("Name:\tx\nVmHWM: 18446744073709551615 kB\n"))
	f.Add([]byte("VmHWM:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVmHWM(b)
		if err != nil {
			if v != 0 {
				t.Fatalf("error %v with value %d", err, v)
			}
			return
		}
		if v%1024 != 0 {
			t.Fatalf("%d bytes is not a whole number of kB", v)
		}
		if !strings.Contains(string(b), "VmHWM:") {
			t.Fatalf("value %d from input without VmHWM", v)
		}
	})
}

func TestParseStatCPU(t *testing.T) {
	// utime 250 and stime 50 ticks of USER_HZ (100): 3 s, after a command
	// name holding spaces and parentheses.
	line := "4242 (tpm fs) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 -1 5 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
}

// TestParseStatCPUSelf checks this process's CPU time from /proc against
// getrusage(2), an independent account of the same clock.
func TestParseStatCPUSelf(t *testing.T) {
	for end := time.Now().Add(60 * time.Millisecond); time.Now().Before(end); {
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	got, err := parseStatCPU(b)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// /proc counts in ticks of 10 ms, and a little time passes between
	// the two reads.
	if d := got - want; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Fatalf("/proc/self/stat says %v of CPU, getrusage %v", got, want)
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("4242 (tpmfs) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0\n"))
	f.Add([]byte("1 ()) R 0 0 0 0 0 0 0 0 0 0 18446744073709551615 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseStatCPU(b)
		if err == nil && (d < 0 || d%(time.Second/userHZ) != 0) {
			t.Fatalf("%q: %v is not a whole number of ticks", b, d)
		}
	})
}
