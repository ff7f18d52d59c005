package tpmcore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
)

func TestCommandTimeout(t *testing.T) {
	header := func(tag uint16, code uint32) []byte {
		b := make([]byte, 10)
		b[0], b[1] = byte(tag>>8), byte(tag)
		b[5] = 10
		b[6], b[7], b[8], b[9] = byte(code>>24), byte(code>>16), byte(code>>8), byte(code)
		return b
	}
	const normal = 8 * time.Second
	raw := allowLong(context.Background())
	cases := []struct {
		name string
		ctx  context.Context
		cmd  []byte
		want time.Duration
	}{
		{"raw CreatePrimary", raw, header(0x8001, uint32(tpm2.TPMCCCreatePrimary)), LongCommandTimeout},
		{"raw Create", raw, header(0x8002, uint32(tpm2.TPMCCCreate)), LongCommandTimeout},
		{"raw TPM 1.2 TakeOwnership", raw, header(0x00C2, 0x0D), LongCommandTimeout},
		{"raw GetRandom", raw, header(0x8001, uint32(tpm2.TPMCCGetRandom)), normal},
		{"TPM 2.0 code 0x0D is not TakeOwnership", raw, header(0x8001, 0x0D), normal},
		{"tpmfs's own CreatePrimary", context.Background(), header(0x8001, uint32(tpm2.TPMCCCreatePrimary)), normal},
		{"short command", raw, []byte{0x80, 0x01}, normal},
	}
	for _, c := range cases {
		if got := commandTimeout(c.ctx, c.cmd, normal); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
