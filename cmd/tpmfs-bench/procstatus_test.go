package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
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
