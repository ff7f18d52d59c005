//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tddl/latency"
	"tpmfs/tpmcore/cmdpolicy"
)

// swapShare is the share, in percent, of the modelled TPM time of the
// named operation spent on ContextSave and ContextLoad.
func swapShare(f *figures, name string) float64 {
	c, ok := f.tpm[name]
	if !ok || c.stats.Modelled == 0 {
		return na
	}
	var swaps time.Duration
	for k, d := range c.stats.ByKind {
		if k.Code == uint32(tpm2.TPMCCContextSave) || k.Code == uint32(tpm2.TPMCCContextLoad) {
			swaps += d
		}
	}
	return 100 * float64(swaps) / float64(c.stats.Modelled)
}

// commandList renders what one operation cost on average:
// "CreatePrimary(ecc) StartAuthSession(ecc-salted) Create(sealed)
// FlushContext×2 = 289.0 ms".
func commandList(c opCost) string {
	if c.ops == 0 {
		return "-"
	}
	type item struct {
		k latency.Kind
		n int
	}
	var items []item
	for k, n := range c.stats.Count {
		items = append(items, item{k, n})
	}
	// The most expensive first, then by name.
	slices.SortFunc(items, func(a, b item) int {
		if d := c.stats.ByKind[b.k] - c.stats.ByKind[a.k]; d != 0 {
			return int(d / time.Microsecond)
		}
		return strings.Compare(kindName(a.k), kindName(b.k))
	})
	var b strings.Builder
	for _, it := range items {
		b.WriteString(kindName(it.k))
		per := float64(it.n) / float64(c.ops)
		switch {
		case it.n%c.ops == 0 && per > 1:
			fmt.Fprintf(&b, "×%d", it.n/c.ops)
		case it.n%c.ops != 0:
			fmt.Fprintf(&b, "×%.2f", per)
		}
		b.WriteByte(' ')
	}
	ms := float64(c.stats.Modelled) / float64(c.ops) / float64(time.Millisecond)
	fmt.Fprintf(&b, "= %.1f ms", ms)
	return b.String()
}

// kindName is "Load", "Create(sealed)", "Unseal(failed)".
func kindName(k latency.Kind) string {
	n := strings.TrimPrefix(cmdpolicy.Name(k.Code), "TPM2_CC_")
	switch {
	case k.Failed:
		n += "(failed)"
	case k.Variant != "*":
		n += "(" + k.Variant + ")"
	}
	return n
}

// printCommands lists, for a run through a latency model, the TPM
// commands each operation sent and their modelled time, per side.
func (r *backendRun) printCommands(out io.Writer) {
	if r.profile == "" {
		return
	}
	direct, mount := newFigures(), newFigures()
	for _, f := range r.direct {
		direct.merge(f)
	}
	for _, f := range r.mount {
		mount.merge(f)
	}
	fmt.Fprintf(out, "TPM commands per operation and their modelled time (%s), after the warm-up:\n", r.profile)
	for _, op := range []struct{ key, name, direct, mount string }{
		{"pcr", "PCR read (pread)", "pcr", "pcr"},
		{"cat", "cat of a PCR file", "", "cat"},
		{"random", "read of random", "random", "random"},
		{"readers", "one read of 8 concurrent readers", "readers", "readers"},
		{"extend", "extend", "extend", "extend"},
		{"seal", "seal", "seal", "seal"},
		{"seal", "unseal", "unseal", "unseal"},
		{"seal", "first seal after the mount", "", "seal-cold"},
		{"seal", "first unseal after a new mount", "", "unseal-cold"},
		{"creds", "systemd-creds decrypt", "creds", "creds"},
	} {
		if !r.only.has(op.key) {
			continue
		}
		fmt.Fprintf(out, "  %s:\n", op.name)
		if op.direct != "" {
			fmt.Fprintf(out, "    direct: %s\n", commandList(direct.tpm[op.direct]))
		}
		fmt.Fprintf(out, "    tpmfs:  %s\n", commandList(mount.tpm[op.mount]))
	}
}
