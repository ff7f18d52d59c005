package tpmcore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/sirupsen/logrus"

	"tpmfs/tddl/faultinject"
)

// Each fault fails the operation that meets it, leaves every earlier
// result intact (PCRs, sealed objects), and the next operation after the
// fault ends works without a restart.
func TestFaultModesFailThenRecover(t *testing.T) {
	shortRetries(t, 200*time.Millisecond)
	c, f, _ := newFaultyCore(t, time.Second)
	ctx := context.Background()
	bank, ok := c.Bank("sha256")
	if !ok {
		t.Fatal("no sha256 bank")
	}
	secret := []byte("the old secret")
	old, err := c.Seal(ctx, "obj", Bind(Selection{}), secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []faultinject.Mode{faultinject.DropRequest, faultinject.DropResponse,
		faultinject.Truncate, faultinject.Corrupt, faultinject.Retry} {
		t.Run(mode.String(), func(t *testing.T) {
			before, err := c.ReadPCR(ctx, bank, 16)
			if err != nil {
				t.Fatal(err)
			}
			d := make([]byte, 32)
			rand.Read(d)
			f.set(mode, 0)
			errs := map[string]error{"extend": c.Extend(ctx, bank, 16, d)}
			_, errs["read"] = c.ReadPCR(ctx, bank, 0)
			errs["random"] = c.Random(ctx, make([]byte, 16))
			sealed, sealErr := c.Seal(ctx, "obj", Bind(Selection{}), []byte("the new secret"))
			errs["seal"] = sealErr
			_, errs["unseal"] = c.Unseal(ctx, "obj", old, nil)
			for op, err := range errs {
				if err == nil {
					t.Errorf("%s under %v: no error", op, mode)
				} else if mode != faultinject.Corrupt && !isUnavailable(err) {
					// A corrupted response code is the TPM's answer, an
					// ordinary TPM error (EIO all the same).
					t.Errorf("%s under %v: %v, want ErrUnavailable", op, mode, err)
				}
			}
			if sealed != nil {
				t.Errorf("seal under %v returned an object", mode)
			}
			f.set(faultinject.PassThrough, 0)

			// The extend may or may not have reached the PCR (the TPM ran
			// it under DropResponse/Truncate/Corrupt), but nothing else.
			after, err := c.ReadPCR(ctx, bank, 16)
			if err != nil {
				t.Fatalf("read after %v: %v", mode, err)
			}
			h := sha256.New()
			h.Write(before)
			h.Write(d)
			if !bytes.Equal(after, before) && !bytes.Equal(after, h.Sum(nil)) {
				t.Errorf("pcr 16 after %v = %x, neither old %x nor extended", mode, after, before)
			}
			got, err := c.Unseal(ctx, "obj", old, nil)
			if err != nil || !bytes.Equal(got, secret) {
				t.Errorf("old object after %v: %q, %v", mode, got, err)
			}
			if hs := transients(t, c); len(hs) != 0 {
				t.Errorf("after %v the TPM still holds %x", mode, hs)
			}
		})
	}
}

// A TPM that stops answering fails the operation in progress after one
// command timeout, and every operation waiting behind it at the same
// moment; the next one after the TPM is back works.
func TestStallFailsWaitingOperations(t *testing.T) {
	const cmdTimeout = 300 * time.Millisecond
	c, f, _ := newFaultyCore(t, cmdTimeout)
	ctx := context.Background()
	bank := c.DefaultBank()
	f.set(faultinject.PassThrough, time.Hour)
	const n = 12
	type result struct {
		err  error
		took time.Duration
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			var err error
			switch i % 4 {
			case 0:
				_, err = c.ReadPCR(ctx, bank, i%NumPCRs)
			case 1:
				err = c.Random(ctx, make([]byte, 64))
			case 2:
				err = c.Measure(ctx, 16, []byte("event"))
			case 3:
				_, err = c.Seal(ctx, "stalled", Bind(Selection{}), []byte("x"))
			}
			results <- result{err, time.Since(start)}
		}(i)
	}
	wg.Wait()
	close(results)
	var worst time.Duration
	for r := range results {
		if !isUnavailable(r.err) {
			t.Errorf("stalled TPM: err = %v, want ErrUnavailable", r.err)
		}
		worst = max(worst, r.took)
	}
	// The bound: each operation meets at most the stalled command in
	// progress and its own, each one timeout (plus the watchdog's grace).
	if limit := 2 * (cmdTimeout + watchdogGrace); worst > limit {
		t.Errorf("slowest failure took %v, want at most %v", worst, limit)
	}
	t.Logf("%d operations on a stalled TPM (command timeout %v) failed, the slowest after %v", n, cmdTimeout, worst)

	f.set(faultinject.PassThrough, 0)
	if _, err := c.ReadPCR(ctx, bank, 0); err != nil {
		t.Fatalf("first read after the stall: %v", err)
	}
	if hs := transients(t, c); len(hs) != 0 {
		t.Errorf("after the stall the TPM still holds %x", hs)
	}
}

// While the TPM is away, operations fail at once; the first one after it
// is back reopens the connection and works.
func TestReopenWhenTPMReturns(t *testing.T) {
	c, f, hook := newFaultyCore(t, time.Second)
	ctx := context.Background()
	bank := c.DefaultBank()
	f.set(faultinject.DropRequest, 0)
	f.setGone(true)
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := c.ReadPCR(ctx, bank, 0); !isUnavailable(err) {
			t.Fatalf("read %d while away: %v, want ErrUnavailable", i, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("read %d while away took %v: nothing to wait for", i, took)
		}
	}
	f.set(faultinject.PassThrough, 0)
	f.setGone(false)
	reopens := f.reopens()
	for i := 0; i < 20; i++ {
		if _, err := c.ReadPCR(ctx, bank, 0); err != nil {
			t.Fatalf("read %d after return: %v", i, err)
		}
	}
	if got := f.reopens() - reopens; got != 1 {
		t.Errorf("%d reopens after the TPM returned, want 1", got)
	}
	if down, up := logCount(hook, logrus.ErrorLevel, msgDown), logCount(hook, logrus.InfoLevel, msgUp); down != 1 || up != 1 {
		t.Errorf("logged %d×%q and %d×%q, want each once", down, msgDown, up, msgUp)
	}
}

// A TPM that asks to retry forever gets an answer after the retry budget:
// the operation fails (the code stays visible), and so do those waiting.
func TestRetryForever(t *testing.T) {
	shortRetries(t, 300*time.Millisecond)
	c, f, _ := newFaultyCore(t, time.Second)
	ctx := context.Background()
	f.set(faultinject.Retry, 0)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	start := time.Now()
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = c.Random(ctx, make([]byte, 8))
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if !isUnavailable(err) {
			t.Errorf("random %d: %v, want ErrUnavailable", i, err)
		}
	}
	if rc, ok := RC(errs[0]); !ok || !errors.Is(rc, tpm2.TPMRCRetry) {
		t.Errorf("err %v carries rc %v, want TPM_RC_RETRY", errs[0], rc)
	}
	// Six callers, but those waiting share the first one's answer.
	if limit := 4 * retryBudget; took > limit {
		t.Errorf("6 callers took %v, want at most %v", took, limit)
	}
	f.set(faultinject.PassThrough, 0)
	if err := c.Random(ctx, make([]byte, 8)); err != nil {
		t.Fatalf("after retries end: %v", err)
	}
}

// A TPM that asks to retry twice and then answers gets its command sent
// three times on the same connection, and the caller the answer: for a
// PCR read (the batch's fast path), an extend (go-tpm through the queue)
// and random bytes. Nothing is logged as a failure.
func TestRetryTwiceThenSucceed(t *testing.T) {
	c, f, hook := newFaultyCore(t, time.Second)
	ctx := context.Background()
	bank := c.DefaultBank()
	d := make([]byte, bank.Size)
	for name, op := range map[string]func() error{
		"read":   func() error { _, err := c.ReadPCR(ctx, bank, 16); return err },
		"extend": func() error { return c.Extend(ctx, bank, 16, d) },
		"random": func() error { return c.Random(ctx, make([]byte, 8)) },
	} {
		before := f.sends()
		f.setN(faultinject.Retry, 2)
		if err := op(); err != nil {
			t.Errorf("%s after two RETRY answers: %v", name, err)
		}
		if n := f.sends() - before; n != 3 {
			t.Errorf("%s: %d sends, want 3 (two answered RETRY, the third ran)", name, n)
		}
	}
	if n := f.reopens(); n != 0 {
		t.Errorf("%d reconnects, want none: a RETRY is not a failure", n)
	}
	if n := logCount(hook, logrus.ErrorLevel, msgDown); n != 0 {
		t.Errorf("logged %q %d times", msgDown, n)
	}
}

// A seal whose connection drops after CreatePrimary ran leaves the SRK in
// the TPM; the reconnect flushes it, so the TPM's few object slots do not
// fill up and sealing keeps working.
func TestLeftoversFlushedAfterDrop(t *testing.T) {
	c, f, _ := newFaultyCore(t, time.Second)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		// Reconnect first, so that the fault goes to the connection the
		// seal will use.
		if err := c.Random(ctx, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		f.setN(faultinject.DropResponse, 1) // CreatePrimary runs, its answer is lost
		if _, err := c.Seal(ctx, "x", Bind(Selection{}), []byte("s")); !isUnavailable(err) {
			t.Fatalf("seal %d with a dropped answer: %v", i, err)
		}
	}
	if _, err := c.Seal(ctx, "x", Bind(Selection{}), []byte("s")); err != nil {
		t.Fatalf("seal after the drops: %v", err)
	}
	if hs := transients(t, c); len(hs) != 0 {
		t.Errorf("the TPM still holds %x", hs)
	}
}

// A caller that gives up in the middle of a seal stops it between two
// commands; what the seal had loaded is flushed before the next job.
func TestAbandonedSealFlushed(t *testing.T) {
	c, f, _ := newFaultyCore(t, 2*time.Second)
	f.set(faultinject.PassThrough, 150*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	if _, err := c.Seal(ctx, "x", Bind(Selection{}), []byte("s")); !isUnavailable(err) {
		t.Fatalf("seal past its deadline: %v", err)
	}
	f.set(faultinject.PassThrough, 0)
	if hs := transients(t, c); len(hs) != 0 {
		t.Errorf("the TPM still holds %x", hs)
	}
}

// Close does not wait for a stalled command.
func TestCloseInterruptsStall(t *testing.T) {
	c, f, _ := newFaultyCore(t, time.Hour)
	f.set(faultinject.PassThrough, time.Hour)
	errc := make(chan error, 1)
	go func() { errc <- c.Random(context.Background(), make([]byte, 8)) }()
	time.Sleep(50 * time.Millisecond) // let the command start
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a stalled command")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("random on a closed core: no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller still waits after Close")
	}
}

// Reconnecting to a TPM whose open hangs (a black-holed host) fails the
// operation after one command timeout, not later; a connection that
// comes too late is closed, and the next open is used.
func TestReopenThatHangs(t *testing.T) {
	const cmdTimeout = 300 * time.Millisecond
	c, f, _ := newFaultyCore(t, cmdTimeout)
	ctx := context.Background()
	f.setN(faultinject.DropRequest, 1) // lose the connection
	if err := c.Random(ctx, make([]byte, 8)); !isUnavailable(err) {
		t.Fatalf("dropped: %v", err)
	}
	release := f.setHang()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Random(ctx, make([]byte, 8)); !isUnavailable(err) {
				t.Errorf("random while open hangs: %v", err)
			}
		}()
	}
	wg.Wait()
	if took, limit := time.Since(start), cmdTimeout+watchdogGrace; took > limit {
		t.Errorf("4 callers on a hanging open took %v, want at most %v", took, limit)
	}
	release()
	if err := c.Random(ctx, make([]byte, 8)); err != nil {
		t.Fatalf("after the open returns: %v", err)
	}
}

// A TPM that answers, but slower than callers wait: they time out, and
// the log says so once, not once per caller.
func TestSlowTPMLoggedOnce(t *testing.T) {
	c, f, hook := newFaultyCore(t, 5*time.Second)
	f.set(faultinject.PassThrough, 50*time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
			defer cancel()
			c.Random(ctx, make([]byte, 8))
		}()
	}
	wg.Wait()
	n := 0
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warnings for 8 callers timing out on a slow TPM, want 1", n)
	}
	if down := logCount(hook, logrus.ErrorLevel, msgDown); down != 0 {
		t.Errorf("a slow TPM was logged unreachable")
	}
}
