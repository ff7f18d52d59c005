package measurelog

import (
	"context"
	"testing"

	"tpmfs/tpmcore/pcrsel"
)

// BenchmarkExtend measures an extend on the in-process simulator without
// and with the event log (a temp directory's file system): what the
// record costs, fsyncs included.
func BenchmarkExtend(b *testing.B) {
	d := make([]byte, 32)
	b.Run("unrecorded", func(b *testing.B) {
		sim := newSim(b)
		for b.Loop() {
			if err := sim.core.Extend(context.Background(), pcrsel.SHA256, 16, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("recorded", func(b *testing.B) {
		sim, st := newSim(b), newState(b)
		openLogs(b, sim, st, Options{})
		for b.Loop() {
			if err := sim.core.Extend(context.Background(), pcrsel.SHA256, 16, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
