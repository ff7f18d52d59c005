//go:build linux

package main

import (
	"testing"
)

func TestRequestsBetween(t *testing.T) {
	// As logrus writes go-fuse's debug lines at --log-level trace.
	log := `level=trace msg="fuse: rx 10: LOOKUP n1 [\".tpmfs-bench-mark-0-\"] 21b p1"
level=trace msg="fuse: tx 10:     2=no such file or directory"
level=trace msg="fuse: rx 12: OPEN n5 {O_RDONLY,0x8000} p1"
level=trace msg="fuse: tx 12:     OK, {Fh 1 DIRECT_IO}"
level=trace msg="fuse: rx 14: READ n5 {Fh 1 [0 +4096)  L 0 RDONLY,0x8000} p1"
level=trace msg="fuse: rx 16: READ n5 {Fh 1 [65 +4096)  L 0 RDONLY,0x8000} p1"
level=trace msg="fuse: rx 17: INTERRUPT n0 {ix 14} p0"
level=trace msg="fuse: rx 18: FLUSH n5 {Fh 1} p1"
level=trace msg="fuse: rx 20: RELEASE n5 {Fh 1 0x8000  L0} p0"
level=trace msg="fuse: doBatchForget: rx 22 1/1: FORGET n9 {Nlookup=1}"
level=trace msg="fuse: rx 24: LOOKUP n1 [\".tpmfs-bench-mark-1-\"] 21b p1"
level=trace msg="fuse: rx 26: LOOKUP n1 [\".tpmfs-bench-mark-10-\"] 21b p1"
`
	got, err := requestsBetween(log, markName(0), markName(1))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"OPEN": 1, "READ": 2, "FLUSH": 1, "RELEASE": 1, "INTERRUPT": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if s := (fuseCount{ops: got}).String(); s != "OPEN READ×2 FLUSH RELEASE (5), and 1 INTERRUPT for signals to the reader" {
		t.Fatalf("String() = %q", s)
	}
	if _, err := requestsBetween(log, markName(1), markName(0)); err == nil {
		t.Fatal("markers out of order: no error")
	}
	if _, err := requestsBetween(log, markName(2), markName(3)); err == nil {
		t.Fatal("missing markers: no error")
	}
}
