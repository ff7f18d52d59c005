//go:build tpmfs_pprof

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// A binary built with -tags tpmfs_pprof profiles its CPU time and its
// allocations while it serves, into $TPMFS_PROFILE/{cpu,allocs}-PID.pprof
// (tpmfs-bench -pprof builds one). Never in a release: the environment
// names where a daemon writes.
func init() {
	startProfile = func() func() {
		dir := os.Getenv("TPMFS_PROFILE")
		if dir == "" {
			return func() {}
		}
		name := func(kind string) string { return filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", kind, os.Getpid())) }
		cpu, err := os.Create(name("cpu"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "tpmfs: profile:", err)
			return func() {}
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			fmt.Fprintln(os.Stderr, "tpmfs: profile:", err)
		}
		return func() {
			pprof.StopCPUProfile()
			cpu.Close()
			if f, err := os.Create(name("allocs")); err == nil {
				runtime.GC()
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
