package tpmcore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tddl/faultinject"
	"tpmfs/tpmcore/pcrsel"
)

// memRecorder is a Recorder in memory that notes every call.
type memRecorder struct {
	mu       sync.Mutex
	boot     Boot
	hasBoot  bool
	boots    []Boot
	pending  *Extension
	kept     []*Extension
	dropped  []*Extension
	beginErr error
	// onBegin runs in Begin, just before the extend is sent.
	onBegin func()
}

func (r *memRecorder) Boot() (Boot, bool) { return r.boot, r.hasBoot }

func (r *memRecorder) NewBoot(b Boot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.boot, r.hasBoot = b, true
	r.boots = append(r.boots, b)
	if r.pending != nil {
		r.dropped = append(r.dropped, r.pending)
		r.pending = nil
	}
	return nil
}

func (r *memRecorder) Pending() *Extension { return r.pending }

func (r *memRecorder) Begin(e *Extension) error {
	if r.beginErr != nil {
		return r.beginErr
	}
	r.pending = e
	if r.onBegin != nil {
		r.onBegin()
	}
	return nil
}

func (r *memRecorder) Resolve(done bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if done {
		r.kept = append(r.kept, r.pending)
	} else {
		r.dropped = append(r.dropped, r.pending)
	}
	r.pending = nil
	return nil
}

func (r *memRecorder) counts() (kept, dropped int, pending bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.kept), len(r.dropped), r.pending != nil
}

// A recorded extend and measure: the recorder sees the caller, the boot,
// each bank's digest and value before, and the PCR ends as computed here.
func TestRecordedExtendAndMeasure(t *testing.T) {
	c := newSimCore(t)
	rec := &memRecorder{}
	ctx := context.Background()
	if err := c.SetRecorder(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.boots) != 1 || rec.boots[0].Family != "2.0" {
		t.Fatalf("boots after SetRecorder: %+v", rec.boots)
	}
	before, _ := c.ReadPCR(ctx, pcrsel.SHA256, 16)
	d := make([]byte, 32)
	rand.Read(d)
	if err := c.Extend(WithCaller(ctx, 1234), pcrsel.SHA256, 16, d); err != nil {
		t.Fatal(err)
	}
	data := []byte("an event")
	if err := c.Measure(ctx, 16, data); err != nil {
		t.Fatal(err)
	}
	if len(rec.kept) != 2 || rec.pending != nil || len(rec.boots) != 1 {
		t.Fatalf("kept %d, pending %v, boots %d", len(rec.kept), rec.pending, len(rec.boots))
	}
	e := rec.kept[0]
	if e.PCR != 16 || e.UID != 1234 || e.Measured || len(e.Digests) != 1 || !bytes.Equal(e.Digests[0].Value, d) ||
		!bytes.Equal(e.Before[0], before) || e.Boot != rec.boot || time.Since(e.Time) > time.Minute {
		t.Fatalf("extend recorded as %+v", e)
	}
	m := rec.kept[1]
	if !m.Measured || !bytes.Equal(m.Event, data) || len(m.Digests) != len(c.Banks()) {
		t.Fatalf("measure recorded as %+v", m)
	}
	for i, dg := range m.Digests {
		h := dg.Bank.Hash.New()
		h.Write(data)
		now, _ := c.ReadPCR(ctx, dg.Bank, 16)
		if !bytes.Equal(dg.Value, h.Sum(nil)) || !bytes.Equal(now, extendExpect(dg.Bank.Hash, m.Before[i], dg.Value)) {
			t.Errorf("%s: digest %x, pcr %x", dg.Bank.Name, dg.Value, now)
		}
	}
	if m.Done(nil) || m.Done(m.Before) {
		t.Error("Done says yes without the values it leads to")
	}
	// A boot that changed under the log starts another.
	rec.boot.ResetCount++
	if err := c.Extend(ctx, pcrsel.SHA256, 16, d); err != nil {
		t.Fatal(err)
	}
	if len(rec.boots) != 2 || rec.boots[1].ResetCount != rec.boots[0].ResetCount {
		t.Fatalf("boots: %+v", rec.boots)
	}
}

// A recorder that refuses (a full state directory) refuses the extend:
// the PCR is unchanged and the caller gets its error.
func TestRecorderRefusalRefusesExtend(t *testing.T) {
	c := newSimCore(t)
	rec := &memRecorder{beginErr: syscall.ENOSPC}
	ctx := context.Background()
	if err := c.SetRecorder(ctx, rec); err != nil {
		t.Fatal(err)
	}
	before, _ := c.ReadPCR(ctx, pcrsel.SHA256, 16)
	if err := c.Extend(ctx, pcrsel.SHA256, 16, make([]byte, 32)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("extend: %v, want ENOSPC", err)
	}
	if err := c.Measure(ctx, 16, []byte("x")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("measure: %v, want ENOSPC", err)
	}
	if after, _ := c.ReadPCR(ctx, pcrsel.SHA256, 16); !bytes.Equal(after, before) {
		t.Fatal("the PCR changed although the record was refused")
	}
}

// An extend whose answer is lost may or may not have happened: the
// record stays pending until the PCR says which, and is kept or dropped
// accordingly.
func TestRecordedExtendUnknownOutcome(t *testing.T) {
	for _, tc := range []struct {
		mode faultinject.Mode
		kept bool
	}{{faultinject.DropResponse, true}, {faultinject.DropRequest, false}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			c, f, _ := newFaultyCore(t, time.Second)
			rec := &memRecorder{}
			ctx := context.Background()
			if err := c.SetRecorder(ctx, rec); err != nil {
				t.Fatal(err)
			}
			before, _ := c.ReadPCR(ctx, pcrsel.SHA256, 16)
			rec.onBegin = func() { f.setN(tc.mode, 1); rec.onBegin = nil }
			d := sha256.Sum256([]byte(tc.mode.String()))
			if err := c.Extend(ctx, pcrsel.SHA256, 16, d[:]); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("extend: %v, want ErrUnavailable", err)
			}
			if kept, dropped, pending := rec.counts(); kept+dropped != 0 || !pending {
				t.Fatalf("after the lost answer: kept %d dropped %d pending %v; want pending", kept, dropped, pending)
			}
			if err := c.Settle(ctx); err != nil {
				t.Fatal(err)
			}
			kept, dropped, pending := rec.counts()
			if pending || (kept == 1) != tc.kept || kept+dropped != 1 {
				t.Fatalf("settled: kept %d dropped %d pending %v; want kept=%v", kept, dropped, pending, tc.kept)
			}
			now, _ := c.ReadPCR(ctx, pcrsel.SHA256, 16)
			if extended := !bytes.Equal(now, before); extended != tc.kept {
				t.Fatalf("pcr extended %v, record kept %v", extended, tc.kept)
			}
		})
	}
}

// A garbled answer after the extend ran is settled in the same job.
func TestRecordedExtendGarbledAnswer(t *testing.T) {
	c, f, _ := newFaultyCore(t, time.Second)
	rec := &memRecorder{}
	ctx := context.Background()
	if err := c.SetRecorder(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.onBegin = func() { f.setN(faultinject.Corrupt, 1); rec.onBegin = nil }
	if err := c.Extend(ctx, pcrsel.SHA256, 16, make([]byte, 32)); err == nil {
		t.Fatal("extend with a garbled answer succeeded")
	}
	if kept, dropped, pending := rec.counts(); kept != 1 || dropped != 0 || pending {
		t.Fatalf("kept %d dropped %d pending %v; want kept", kept, dropped, pending)
	}
}

// ReadAllPCRs reads 24 PCRs of every bank, as ReadPCR does, and runs
// during inside its job.
func TestReadAllPCRs(t *testing.T) {
	c := newSimCore(t)
	ctx := context.Background()
	ran := false
	vals, err := c.ReadAllPCRs(ctx, func() { ran = true })
	if err != nil || !ran {
		t.Fatalf("ReadAllPCRs: %v, during ran %v", err, ran)
	}
	for _, b := range c.Banks() {
		if len(vals[b.Name]) != NumPCRs {
			t.Fatalf("%s: %d values", b.Name, len(vals[b.Name]))
		}
		for i, v := range vals[b.Name] {
			want, _ := c.ReadPCR(ctx, b, i)
			if !bytes.Equal(v, want) {
				t.Errorf("%s:%d = %x, ReadPCR %x", b.Name, i, v, want)
			}
		}
	}
}

// On a TPM 1.2 a recorded extend and measure work alike, in the one
// bank, and the boot is the tick nonce.
func TestRecordedTPM12(t *testing.T) {
	sw := swtpmtest.Start12(t, false)
	c, _ := newCore12(t, sw.Port, nil)
	rec := &memRecorder{}
	ctx := context.Background()
	if err := c.SetRecorder(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.boots) != 1 || rec.boots[0].Family != "1.2" || rec.boots[0].TickNonce == [20]byte{} {
		t.Fatalf("boots: %+v", rec.boots)
	}
	before, _ := c.ReadPCR(ctx, pcrsel.SHA1, 16)
	d := make([]byte, 20)
	rand.Read(d)
	if err := c.Extend(ctx, pcrsel.SHA1, 16, d); err != nil {
		t.Fatal(err)
	}
	if err := c.Measure(ctx, 16, []byte("event")); err != nil {
		t.Fatal(err)
	}
	if len(rec.kept) != 2 || !bytes.Equal(rec.kept[0].Before[0], before) {
		t.Fatalf("kept %+v", rec.kept)
	}
	ev := sha1.Sum([]byte("event"))
	now, _ := c.ReadPCR(ctx, pcrsel.SHA1, 16)
	if want := extend1(extend1(before, d), ev[:]); !bytes.Equal(now, want) || !bytes.Equal(rec.kept[1].Digests[0].Value, ev[:]) {
		t.Fatalf("pcr 16 = %x, want %x", now, want)
	}
	vals, err := c.ReadAllPCRs(ctx, nil)
	if err != nil || len(vals["sha1"]) != NumPCRs || !bytes.Equal(vals["sha1"][16], now) {
		t.Fatalf("ReadAllPCRs: %v", err)
	}
	// swtpm restarted: another power-on, another nonce, a new log.
	sw.Stop()
	sw.Restart(t)
	if err := c.Extend(ctx, pcrsel.SHA1, 16, d); err != nil {
		t.Fatal(err)
	}
	if len(rec.boots) != 2 || rec.boots[1] == rec.boots[0] {
		t.Fatalf("boots after a restart: %+v", rec.boots)
	}
}
