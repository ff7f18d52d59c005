package tpmcore

import (
	"context"
	"testing"
)

// BenchmarkReadPCR is one reader's PCR read on the in-process simulator:
// what tpmcore adds to the PCR_Read (the simulator's own time and
// allocations are in it too).
func BenchmarkReadPCR(b *testing.B) {
	c := newSimCore(b)
	bank := c.DefaultBank()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ReadPCR(ctx, bank, 0); err != nil {
			b.Fatal(err)
		}
	}
}
