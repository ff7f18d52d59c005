package tddl_test

import (
	"testing"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tddltest"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

// BenchmarkGetRandom measures one round trip (TPM2_GetRandom(16)) per
// backend: the floor that tpmcore's queue adds its costs to.
func BenchmarkGetRandom(b *testing.B) {
	run := func(b *testing.B, cfg source.Config) {
		tpm, err := tddl.Open(cfg)
		if err != nil {
			b.Skip(err)
		}
		defer tpm.Close()
		cmd := tddltest.GetRandomCmd(0x8001)
		b.ResetTimer()
		for range b.N {
			if _, err := tpm.Send(cmd); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sim", func(b *testing.B) { run(b, source.Config{Kind: source.Sim}) })
	b.Run("swtpm-tcp", func(b *testing.B) {
		p := swtpmtest.Start(b)
		run(b, source.Config{Kind: source.Swtpm, Host: "127.0.0.1", Port: p.Port})
	})
	b.Run("swtpm-unix", func(b *testing.B) {
		p := swtpmtest.StartWith(b, swtpmtest.Options{Unix: true})
		run(b, source.Config{Kind: source.Swtpm, Path: p.Sock})
	})
}
