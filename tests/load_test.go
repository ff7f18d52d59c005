package tests

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
)

// procStats is what /proc shows of the daemon.
type procStats struct {
	rssKiB, threads, fds int
}

func readProcStats(t *testing.T, pid int) procStats {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s procStats
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			s.rssKiB, _ = strconv.Atoi(fields[0])
		case "Threads":
			s.threads, _ = strconv.Atoi(fields[0])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	s.fds = len(fds)
	return s
}

// loadRun drives 8 writers and 8 readers against a mount. Each PCR that
// is written has one writer, which keeps its expected value (computed
// here with crypto/sha256) to compare with the TPM's at the end.
type loadRun struct {
	m      *mount
	mu     sync.Mutex
	expect map[string][]byte // pcr file → expected sha256 value
	ops    sync.Map          // kind → *atomic.Int64
	errs   chan error
}

func (l *loadRun) count(kind string) {
	v, _ := l.ops.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (l *loadRun) fail(err error) {
	select {
	case l.errs <- err:
	default:
	}
}

// run works for d with every worker; workers stop at their first error.
func (l *loadRun) run(d time.Duration) {
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	worker := func(kind string, step func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				if err := step(i); err != nil {
					l.fail(fmt.Errorf("%s: %w", kind, err))
					return
				}
				l.count(kind)
			}
		}()
	}
	m := l.m
	// Writers.
	for _, pcr := range []string{"14", "15"} {
		path := m.Path("pcrs", "sha256", pcr)
		worker("extend", func(int) error {
			d := make([]byte, 32)
			rand.Read(d)
			if err := writeFile(path, []byte(hex.EncodeToString(d)+"\n")); err != nil {
				return err
			}
			l.extended(path, d)
			return nil
		})
	}
	for _, pcr := range []string{"12", "13"} {
		path, bankPath := m.Path("pcrs", pcr), m.Path("pcrs", "sha256", pcr)
		worker("event", func(i int) error {
			ev := []byte(fmt.Sprintf("event %d of pcr %s", i, pcr))
			if err := writeFile(path, ev); err != nil {
				return err
			}
			h := sha256.Sum256(ev)
			l.extended(bankPath, h[:])
			return nil
		})
	}
	for _, obj := range []string{"w0", "w1"} {
		worker("seal", func(int) error {
			secret := make([]byte, 100)
			rand.Read(secret)
			if err := writeFile(m.Path("seal", obj, "data"), secret); err != nil {
				return err
			}
			got, err := os.ReadFile(m.Path("seal", obj, "data"))
			if err == nil && !bytes.Equal(got, secret) {
				err = fmt.Errorf("unsealed %x, sealed %x", got, secret)
			}
			return err
		})
	}
	for w := 0; w < 2; w++ {
		worker("raw", func(i int) error { return rawSession(m.Path("tpmrm0"), i%4 == 0, i%8 == 0) })
	}
	// Readers.
	for r := 0; r < 2; r++ {
		worker("read pcr", func(i int) error {
			b, err := os.ReadFile(m.Path("pcrs", fmt.Sprintf("%02d", i%24)))
			if err == nil && (len(b) != 65 || b[64] != '\n') {
				err = fmt.Errorf("pcr reads %q", b)
			}
			return err
		})
		worker("random", func(int) error { return readSome(m.Path("random"), 4096) })
		obj := fmt.Sprintf("r%d", r)
		worker("unseal", func(int) error {
			got, err := os.ReadFile(m.Path("seal", obj, "data"))
			if err == nil && string(got) != "reader secret "+obj {
				err = fmt.Errorf("unsealed %q", got)
			}
			return err
		})
		worker("raw read", func(int) error { return rawSession(m.Path("tpmrm0"), false, false) })
	}
	wg.Wait()
}

// extended notes that the PCR at path was extended with d.
func (l *loadRun) extended(path string, d []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := sha256.New()
	h.Write(l.expect[path])
	h.Write(d)
	l.expect[path] = h.Sum(nil)
}

// rawSession opens tpmrm0 for a few commands; with key it also creates a
// primary key, which it flushes itself or leaves for the close to flush.
func rawSession(path string, key, flush bool) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	tpm := transport.FromReadWriter(f)
	if r, err := (tpm2.GetRandom{BytesRequested: 32}).Execute(tpm); err != nil || len(r.RandomBytes.Buffer) != 32 {
		return fmt.Errorf("GetRandom: %v", err)
	}
	sel := tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(0)}}}
	if _, err := (tpm2.PCRRead{PCRSelectionIn: sel}).Execute(tpm); err != nil {
		return fmt.Errorf("PCRRead: %v", err)
	}
	if key {
		k, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tpm)
		if err != nil {
			return fmt.Errorf("CreatePrimary: %v", err)
		}
		if flush {
			if _, err := (tpm2.FlushContext{FlushHandle: k.ObjectHandle}).Execute(tpm); err != nil {
				return fmt.Errorf("FlushContext: %v", err)
			}
		}
	}
	return nil
}

// 8 writers (extend, event, seal, raw commands) and 8 readers (PCRs,
// random, unseal, raw commands) for several seconds: no errors, PCRs as
// computed here, and the daemon's memory, threads and descriptors back
// near where they were after a warm-up.
func TestLoad(t *testing.T) {
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source(), "state="+t.TempDir())
	for _, obj := range []string{"w0", "w1"} {
		sealSecret(t, m, obj, []byte("initial"))
	}
	for _, obj := range []string{"r0", "r1"} {
		sealSecret(t, m, obj, []byte("reader secret "+obj))
	}
	l := &loadRun{m: m, expect: map[string][]byte{}, errs: make(chan error, 16)}
	for _, pcr := range []string{"12", "13", "14", "15"} {
		path := m.Path("pcrs", "sha256", pcr)
		v, err := hex.DecodeString(readPCR(t, path))
		if err != nil {
			t.Fatal(err)
		}
		l.expect[path] = v
	}
	pid := m.cmd.Process.Pid
	start := readProcStats(t, pid)

	l.run(time.Second) // warm-up: the runtime grows to its working size
	settle()
	base := readProcStats(t, pid)
	const loadTime = 4 * time.Second
	l.ops.Clear()
	l.run(loadTime)
	settle()
	after := readProcStats(t, pid)
	close(l.errs)
	for err := range l.errs {
		t.Error(err)
	}

	total := int64(0)
	var counts []string
	l.ops.Range(func(k, v any) bool {
		n := v.(*atomic.Int64).Load()
		total += n
		counts = append(counts, fmt.Sprintf("%s %d", k, n))
		return true
	})
	t.Logf("%v of load: %d operations (%.0f/s): %s", loadTime, total, float64(total)/loadTime.Seconds(), strings.Join(counts, ", "))
	t.Logf("daemon at mount: RSS %d KiB, %d threads, %d fds; after warm-up: RSS %d KiB, %d threads, %d fds; after load: RSS %d KiB, %d threads, %d fds",
		start.rssKiB, start.threads, start.fds, base.rssKiB, base.threads, base.fds, after.rssKiB, after.threads, after.fds)

	for path, want := range l.expect {
		if got := readPCR(t, path); got != hex.EncodeToString(want) {
			t.Errorf("%s = %s, want %x", path, got, want)
		}
	}
	// Leaks grow with the work done: the load did four times the
	// warm-up's work, which brought the runtime to its working size. A
	// goroutine or a buffer kept per operation would add megabytes.
	if after.fds > base.fds {
		t.Errorf("open descriptors grew from %d to %d", base.fds, after.fds)
	}
	if after.threads > base.threads+8 {
		t.Errorf("threads grew from %d to %d", base.threads, after.threads)
	}
	if after.rssKiB > base.rssKiB+6<<10 {
		t.Errorf("RSS grew from %d KiB to %d KiB", base.rssKiB, after.rssKiB)
	}
	m.alive(t)
}

// settle lets the daemon finish releasing what closed files held.
func settle() { time.Sleep(500 * time.Millisecond) }
