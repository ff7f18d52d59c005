package tests

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
)

// failBound is the contract: an operation on a TPM that stopped answering
// fails within this time.
const failBound = 10 * time.Second

// fileOp is one thing a user does with the mount.
type fileOp struct {
	name string
	run  func() error
}

// userOps touches the TPM through every kind of file: PCR reads, digest
// extends and events, random, sealing and unsealing obj, the raw device.
func userOps(m *mount, obj string, digest []byte) []fileOp {
	return []fileOp{
		{"read pcr", func() error { _, err := os.ReadFile(m.Path("pcrs", "sha256", "16")); return err }},
		{"read pcr 00", func() error { _, err := os.ReadFile(m.Path("pcrs", "00")); return err }},
		{"random", func() error { return readSome(m.Path("random"), 64) }},
		{"extend", func() error {
			return writeFile(m.Path("pcrs", "sha256", "16"), []byte(hex.EncodeToString(digest)+"\n"))
		}},
		{"event", func() error { return writeFile(m.Path("pcrs", "23"), []byte("event")) }},
		{"seal", func() error { return writeFile(m.Path("seal", obj, "data"), []byte("a new secret")) }},
		{"unseal", func() error { _, err := os.ReadFile(m.Path("seal", obj, "data")); return err }},
		{"tpmrm0", func() error { _, err := rawRandom(m.Path("tpmrm0"), 16); return err }},
	}
}

func readSome(path string, n int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Read(make([]byte, n))
	return err
}

// rawRandom runs TPM2_GetRandom through a raw device file.
func rawRandom(path string, n uint16) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rsp, err := tpm2.GetRandom{BytesRequested: n}.Execute(transport.FromReadWriter(f))
	if err != nil {
		return nil, err
	}
	return rsp.RandomBytes.Buffer, nil
}

type outcome struct {
	name string
	err  error
	took time.Duration
}

// runAll runs ops all at once and returns how each ended. An operation
// still running long past the bound is a hang: fatal.
func runAll(t *testing.T, ops []fileOp) []outcome {
	t.Helper()
	out := make(chan outcome, len(ops))
	for _, op := range ops {
		go func() {
			start := time.Now()
			err := op.run()
			out <- outcome{op.name, err, time.Since(start)}
		}()
	}
	var res []outcome
	timeout := time.After(failBound + 20*time.Second)
	for range ops {
		select {
		case o := <-out:
			res = append(res, o)
		case <-timeout:
			t.Fatalf("operations hang: only %d of %d returned: %v", len(res), len(ops), res)
		}
	}
	return res
}

// expectEIO checks that every operation failed with EIO within the bound
// and returns the slowest time.
func expectEIO(t *testing.T, what string, res []outcome) time.Duration {
	t.Helper()
	var worst time.Duration
	for _, o := range res {
		if !errors.Is(o.err, syscall.EIO) {
			t.Errorf("%s: %s: err = %v, want EIO", what, o.name, o.err)
		}
		if o.took > failBound {
			t.Errorf("%s: %s failed after %v, more than %v", what, o.name, o.took, failBound)
		}
		worst = max(worst, o.took)
	}
	return worst
}

// alive fails the test unless the daemon runs and its mount is there.
func (m *mount) alive(t *testing.T) {
	t.Helper()
	select {
	case <-m.done:
		t.Fatalf("tpmfs exited: %v\n%s", m.cmd.ProcessState, m.Stderr())
	default:
	}
	if !isMounted(m.Dir) {
		t.Fatalf("%s is no longer mounted", m.Dir)
	}
	if _, err := os.ReadFile(m.Path("info")); err != nil {
		t.Fatalf("info: %v", err)
	}
}

// Log lines of the TPM going away and coming back (logrus text format).
const (
	logDown = `msg="TPM unreachable; operations fail with EIO until it answers"`
	logUp   = `msg="TPM reachable again"`
)

// sealSecret creates seal/obj holding secret.
func sealSecret(t *testing.T, m *mount, obj string, secret []byte) {
	t.Helper()
	if err := os.Mkdir(m.Path("seal", obj), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(m.Path("seal", obj, "data"), secret); err != nil {
		t.Fatalf("seal %s: %v", obj, err)
	}
}

func expectSecret(t *testing.T, m *mount, obj string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(m.Path("seal", obj, "data"))
	if err != nil || string(got) != string(want) {
		t.Errorf("seal/%s/data = %q, %v; want %q", obj, got, err, want)
	}
}

var zeroPCR = strings.Repeat("0", 64)

// Kill the swtpm under a mount (and under a second mount that reaches it
// through the first one's tpmrm0, with the device backend): every
// operation fails with EIO, quickly, and both daemons stay up. Restart
// it: the next operation works, with no restart of tpmfs. Each
// transition is logged once.
func TestSwtpmKilledAndRestarted(t *testing.T) {
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source(), "state="+t.TempDir())
	dev := mountTPM(t, "device:"+m.Path("tpmrm0"), "state="+t.TempDir())
	secret := []byte("survives the restart")
	sealSecret(t, m, "k", secret)
	sealSecret(t, dev, "k", secret)
	d := make([]byte, 32)
	rand.Read(d)

	tpm.Stop()
	ops := append(userOps(m, "k", d), userOps(dev, "k", d)...)
	worst := expectEIO(t, "swtpm killed", runAll(t, ops))
	t.Logf("swtpm killed: %d operations failed with EIO, the slowest after %v", len(ops), worst)
	m.alive(t)
	dev.alive(t)

	tpm.Restart(t)
	// The very next operation works: a fresh TPM, PCRs reset.
	if got := readPCR(t, m.Path("pcrs", "sha256", "16")); got != zeroPCR {
		t.Errorf("pcr 16 after the restart = %s, want zeros", got)
	}
	expectSecret(t, m, "k", secret)
	if got := readPCR(t, dev.Path("pcrs", "sha256", "16")); got != zeroPCR {
		t.Errorf("device backend: pcr 16 after the restart = %s, want zeros", got)
	}
	expectSecret(t, dev, "k", secret)
	sh(t, fmt.Sprintf("echo %x > %s", d, m.Path("pcrs", "sha256", "16")))
	if got, want := readPCR(t, dev.Path("pcrs", "sha256", "16")), extended(crypto.SHA256, zeroPCR, d); got != want {
		t.Errorf("extend after the restart: pcr 16 = %s, want %s", got, want)
	}

	// A restart without Startup (as after a power cycle) is started by
	// tpmfs itself, again on the next operation.
	tpm.Stop()
	tpm.RestartWithoutStartup(t)
	if got := readPCR(t, m.Path("pcrs", "sha256", "16")); got != zeroPCR {
		t.Errorf("pcr 16 after a restart without startup = %s, want zeros", got)
	}
	expectSecret(t, m, "k", secret)

	for name, mt := range map[string]*mount{"swtpm mount": m, "device mount": dev} {
		log := mt.Stderr()
		if down, up := strings.Count(log, logDown), strings.Count(log, logUp); down != 1 || up != 1 {
			t.Errorf("%s logged %d×down and %d×up, want 1 each:\n%s", name, down, up, log)
		}
		if n := strings.Count(log, "level=error"); n != 1 {
			t.Errorf("%s logged %d errors for one outage, want 1:\n%s", name, n, log)
		}
	}
}

// A TPM that stalls, hangs up, truncates, garbles or asks to retry for
// ever: every operation fails with EIO within the bound, the daemon stays
// up, nothing is corrupted (a PCR is either extended or not, a failed
// seal leaves the old secret), and once the TPM behaves the next
// operation works.
func TestFaultyTPMOnTheWire(t *testing.T) {
	tpm := swtpmtest.Start(t)
	p := startProxy(t, tpm.Port)
	m := mountTPM(t, p.Source(), "state="+t.TempDir())
	secret := []byte("the old secret")
	sealSecret(t, m, "k", secret)
	if _, err := rawRandom(m.Path("tpmrm0"), 8); err != nil {
		t.Fatalf("tpmrm0 before faults: %v", err)
	}
	for _, mode := range []proxyMode{proxyDrop, proxyTruncate, proxyCorrupt, proxyRetry, proxyStall} {
		before := readPCR(t, m.Path("pcrs", "sha256", "16"))
		d := make([]byte, 32)
		rand.Read(d)
		logBefore := len(m.Stderr())
		p.set(mode, 0)
		seen := p.commands()
		res := runAll(t, userOps(m, "k", d))
		if mode == proxyCorrupt {
			// The raw device hands the TPM's answer, garbled code and
			// all, to its client, as /dev/tpmrm0 does.
			for i, o := range res {
				if o.name == "tpmrm0" {
					if o.err == nil || errors.Is(o.err, syscall.EIO) {
						t.Errorf("corrupt: tpmrm0: err = %v, want the garbled TPM code", o.err)
					}
					res = append(res[:i], res[i+1:]...)
					break
				}
			}
		}
		worst := expectEIO(t, mode.String(), res)
		t.Logf("%s: operations failed with EIO, the slowest after %v (%d commands reached the proxy)", mode, worst, p.commands()-seen)
		p.set(proxyPass, 0)
		m.alive(t)

		after := readPCR(t, m.Path("pcrs", "sha256", "16"))
		if after != before && after != extended(crypto.SHA256, before, d) {
			t.Errorf("%s: pcr 16 = %s, neither %s nor extended", mode, after, before)
		}
		expectSecret(t, m, "k", secret)
		if _, err := rawRandom(m.Path("tpmrm0"), 8); err != nil {
			t.Errorf("%s: tpmrm0 after the fault: %v", mode, err)
		}
		log := m.Stderr()[logBefore:]
		if mode == proxyCorrupt {
			continue // garbled response codes are answers: no outage
		}
		if down, up := strings.Count(log, logDown), strings.Count(log, logUp); down != 1 || up != 1 {
			t.Errorf("%s: logged %d×down and %d×up, want 1 each:\n%s", mode, down, up, log)
		}
	}
}
