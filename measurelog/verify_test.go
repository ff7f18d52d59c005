package measurelog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/eventlog"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsel"
)

// raw is a tpmrm0 client as a go-tpm transport: extends behind tpmfs's
// back.
type raw struct{ cl *tpmcore.Client }

func (r raw) Send(cmd []byte) ([]byte, error) { return r.cl.Transmit(context.Background(), cmd) }

func rawExtend(t *testing.T, sim *simTPM, pcr int, digests []eventlog.Digest) {
	t.Helper()
	cl, err := sim.core.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ds []tpm2.TPMTHA
	for _, d := range digests {
		b, ok := pcrsel.BankByName(d.Alg)
		if _, active := sim.core.Bank(d.Alg); ok && active {
			ds = append(ds, tpm2.TPMTHA{HashAlg: b.Alg, Digest: d.Value})
		}
	}
	_, err = tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: ds},
	}.Execute(raw{cl})
	if err != nil {
		t.Fatal(err)
	}
}

// verdicts parses verify's PCR lines: "bank:pcr" → "ok" or the rest.
func verdicts(t *testing.T, out []byte) map[string]string {
	t.Helper()
	v := map[string]string{}
	line := regexp.MustCompile(`^([a-z0-9_]+:\d+): (ok|replayed [0-9a-f]+ current [0-9a-f]+)$`)
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			v[m[1]] = m[2]
		} else if !strings.HasPrefix(l, "firmware: ") && !strings.HasPrefix(l, "tpmfs: ") {
			t.Errorf("verify line %q", l)
		}
	}
	return v
}

func TestVerifyNamesWhatTheLogsDoNotExplain(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	sim.core.Measure(ctx, 16, []byte("logged"))
	sim.core.Extend(ctx, pcrsel.SHA256, 23, make([]byte, 32))
	out, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := verdicts(t, out)
	if len(v) != len(sim.core.Banks())*24 || !strings.Contains(string(out), "firmware: none\ntpmfs: 2 records, TPM 2.0 reset ") {
		t.Fatalf("verify:\n%s", out)
	}
	for k, s := range v {
		if s != "ok" {
			t.Errorf("%s: %s", k, s)
		}
	}
	d := sha256.Sum256([]byte("behind its back"))
	rawExtend(t, sim, 16, []eventlog.Digest{{Alg: "sha256", Value: d[:]}})
	out, _ = l.Verify(ctx)
	v = verdicts(t, out)
	now, _ := sim.core.ReadPCR(ctx, pcrsel.SHA256, 16)
	for k, s := range v {
		if k == "sha256:16" {
			if !strings.HasPrefix(s, "replayed ") || !strings.HasSuffix(s, fmt.Sprintf(" current %x", now)) {
				t.Errorf("sha256:16 after a raw extend: %s", s)
			}
		} else if s != "ok" {
			t.Errorf("%s: %s", k, s)
		}
	}
}

// With the firmware's log: once its digests are in the PCRs (as the
// firmware would have put them), verify says ok for all.
func TestVerifyReplaysFirmwareLog(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("..", "tests", "testdata", "eventlog", "gce-ubuntu-2104.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{KernelDir: securityfs(t, 0, map[string][]byte{"firmware": fixture})})
	fw, _ := eventlog.ParseFirmware(fixture)
	out, _ := l.Verify(ctx)
	if v := verdicts(t, out); v["sha256:0"] == "ok" || v["sha256:16"] != "ok" {
		t.Fatalf("before the firmware's extends:\n%s", out)
	}
	for _, ev := range fw.Events {
		if ev.Type != eventlog.EvNoAction {
			rawExtend(t, sim, ev.PCR, ev.Digests)
		}
	}
	sim.core.Measure(ctx, 14, []byte("and tpmfs's"))
	out, err = l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), fmt.Sprintf("firmware: %d events\ntpmfs: 1 record, TPM 2.0 reset ", len(fw.Events))) {
		t.Errorf("verify:\n%s", out)
	}
	for k, s := range verdicts(t, out) {
		if s != "ok" {
			t.Errorf("%s: %s", k, s)
		}
	}
}
