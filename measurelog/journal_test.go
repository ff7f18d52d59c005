package measurelog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"tpmfs/eventlog"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsel"
)

var ctx = context.Background()

func content(t *testing.T, r eventlog.Record) *eventlog.Content {
	t.Helper()
	c, err := eventlog.ParseContent(r.Content)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every extend and measurement is recorded with who, what and the
// digests; replaying the log gives the PCRs.
func TestLogRecordsEveryExtend(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	head := st.parse(t, logName)
	if len(head.Records) != 1 || head.Boot.Family != "2.0" || head.Boot.ResetCount == nil {
		t.Fatalf("a new log: %+v", head)
	}
	d := sha256.Sum256([]byte("digest"))
	big := bytes.Repeat([]byte("b"), eventlog.MaxData+1)
	if err := sim.core.Extend(tpmcore.WithCaller(ctx, 1000), pcrsel.SHA256, 16, d[:]); err != nil {
		t.Fatal(err)
	}
	if err := sim.core.Measure(tpmcore.WithCaller(ctx, 1001), 16, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := sim.core.Measure(ctx, 23, big); err != nil {
		t.Fatal(err)
	}
	lg := st.parse(t, logName)
	if len(lg.Records) != 4 {
		t.Fatalf("%d records, want the header and 3", len(lg.Records))
	}
	r1, r2, r3 := lg.Records[1], lg.Records[2], lg.Records[3]
	if c := content(t, r1); c.Type != "digest" || *c.UID != 1000 || r1.PCR != 16 || len(r1.Digests) != 1 || !bytes.Equal(r1.Digest("sha256"), d[:]) {
		t.Errorf("digest record: %+v %+v", r1, c)
	}
	if c := content(t, r2); c.Type != "event" || *c.UID != 1001 || string(c.Data) != "hello\n" || len(r2.Digests) != len(sim.core.Banks()) {
		t.Errorf("event record: %+v %+v", r2, c)
	}
	if c := content(t, r3); c.Data != nil || *c.Size != int64(len(big)) || *c.UID != uint32(os.Geteuid()) {
		t.Errorf("large event record: %+v", c)
	}
	matches(t, sim, lg, 16)
	matches(t, sim, lg, 23)
	if size, _ := l.Size(TPMFS); size != int64(len(st.read(t, logName))) {
		t.Errorf("Size %d, file %d bytes", size, len(st.read(t, logName)))
	}
	snap, err := l.Open(ctx, TPMFS)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if b, _ := readAll(snap); !bytes.Equal(b, st.read(t, logName)) {
		t.Error("a snapshot differs from the file")
	}
}

// The log survives a restart of the daemon and goes on numbering.
func TestLogContinuesAfterRestart(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	for i := range 3 {
		sim.core.Measure(ctx, 16, []byte{byte(i)})
	}
	l.Close()
	st.close()
	st.open(t)
	openLogs(t, sim, st, Options{})
	if err := sim.core.Measure(ctx, 16, []byte("after")); err != nil {
		t.Fatal(err)
	}
	lg := st.parse(t, logName)
	if n := len(lg.Records); n != 5 || lg.Records[4].Recnum != 4 {
		t.Fatalf("%d records after a restart, want 5 numbered on", n)
	}
	if st.read(t, oldName) != nil {
		t.Error("a restart of tpmfs alone started a new log")
	}
	matches(t, sim, lg, 16)
}

// A TPM reset starts a new log, the old one kept as .eventlog.1.
func TestLogNewBoot(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	sim.core.Measure(ctx, 16, []byte("first boot"))
	before := st.read(t, logName)
	old := st.parse(t, logName)
	snap, _ := l.Open(ctx, TPMFS)
	defer snap.Close()
	if err := sim.sim.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := sim.core.Measure(ctx, 16, []byte("second boot")); err != nil {
		t.Fatal(err)
	}
	if got := st.read(t, oldName); !bytes.Equal(got, before) {
		t.Fatalf(".eventlog.1 is not the old log:\n%s", got)
	}
	lg := st.parse(t, logName)
	if len(lg.Records) != 2 || *lg.Boot.ResetCount != *old.Boot.ResetCount+1 {
		t.Fatalf("the new log: %d records, reset count %d (was %d)", len(lg.Records), *lg.Boot.ResetCount, *old.Boot.ResetCount)
	}
	matches(t, sim, lg, 16)
	// An open of the old log still reads it.
	if b, _ := readAll(snap); !bytes.Equal(b, before) {
		t.Error("a snapshot of the old log changed with the new boot")
	}
}

// dying is a journal whose process dies at a chosen point of an extend.
type dying struct {
	*Journal
	at string // "begin": after the pending record, before the extend;
	// "append": after the extend, halfway through the append;
	// "resolve": after the extend, before the append
}

func (d *dying) Begin(e *tpmcore.Extension) error {
	if err := d.Journal.Begin(e); err != nil {
		return err
	}
	if d.at == "begin" {
		return errors.New("killed")
	}
	return nil
}

func (d *dying) Resolve(done bool) error {
	if d.at == "append" {
		half := d.Journal.pendLine[:len(d.Journal.pendLine)/2]
		d.Journal.write(logName, 0, func(f *os.File) error {
			_, err := f.WriteAt(half, d.Journal.size)
			return err
		})
	}
	return nil
}

// Whatever point an extend dies at, the log after a restart replays to
// the PCR: a pending record is kept if the extend was made, else dropped.
func TestCrashReconciliation(t *testing.T) {
	for _, at := range []string{"begin", "resolve", "append"} {
		t.Run(at, func(t *testing.T) {
			sim, st := newSim(t), newState(t)
			l, _ := openLogs(t, sim, st, Options{})
			sim.core.Measure(ctx, 16, []byte("before the crash"))
			sim.core.SetRecorder(ctx, &dying{Journal: l.journal, at: at})
			sim.core.Measure(ctx, 16, []byte("the crash"))
			l.journal.file.f.Close() // the process is gone
			st.close()

			st.open(t)
			openLogs(t, sim, st, Options{})
			lg := st.parse(t, logName)
			want := 3
			if at == "begin" {
				want = 2
			}
			if len(lg.Records) != want {
				t.Fatalf("%d records after the restart, want %d", len(lg.Records), want)
			}
			matches(t, sim, lg, 16)
			if err := sim.core.Measure(ctx, 16, []byte("after")); err != nil {
				t.Fatal(err)
			}
			lg = st.parse(t, logName)
			if len(lg.Records) != want+1 {
				t.Fatalf("%d records after one more, want %d", len(lg.Records), want+1)
			}
			matches(t, sim, lg, 16)
		})
	}
}

// A pending file that is partial, stale or of another boot is not a
// pending record.
func TestPendingIgnoredUnlessCurrent(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	sim.core.Measure(ctx, 16, []byte("one"))
	written, err := pendingJSON(st.read(t, pendingName)) // record 1's, appended since
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(js []byte) []byte {
		return append(fmt.Appendf(nil, "%s %d %x\n", pendingMagic, len(js), sha256.Sum256(js)), js...)
	}
	current := bytes.Replace(written, []byte(`"recnum":1`), []byte(`"recnum":2`), 1)
	torn := wrap(current)
	copy(torn[len(torn)-20:], "00000000000000000000")
	l.Close()
	st.close()
	for _, tc := range []struct {
		name    string
		data    []byte
		pending bool
	}{
		{"next record", wrap(current), true},
		{"next record, old bytes after it", append(wrap(current), "\x00garbage from a longer record"...), true},
		{"appended already", wrap(written), false},
		{"partial", wrap(current)[:len(current)/2], false},
		{"torn", torn, false},
		{"empty", nil, false},
		{"other boot", wrap(bytes.Replace(current, []byte(`"reset_count":`), []byte(`"reset_count":9`), 1)), false},
		{"garbage", []byte("\x00\x01{"), false},
		{"dropped", append([]byte("dropped"), wrap(current)[7:]...), false},
	} {
		os.WriteFile(st.file(pendingName), tc.data, 0o600)
		st.open(t)
		j, err := OpenJournal(st.store, l.log)
		if err != nil {
			t.Fatal(err)
		}
		if p := j.Pending(); (p != nil) != tc.pending {
			t.Errorf("%s: pending %+v", tc.name, p)
		}
		j.Close()
		st.close()
	}
	st.open(t)
}

// A full log refuses the extend; the PCR is unchanged.
func TestLogFullRefusesExtend(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	before, _ := sim.core.ReadPCR(ctx, pcrsel.SHA256, 16)
	l.journal.size = MaxSize - 10
	err := sim.core.Measure(ctx, 16, []byte("x"))
	if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("extend into a full log: %v", err)
	}
	if now, _ := sim.core.ReadPCR(ctx, pcrsel.SHA256, 16); !bytes.Equal(now, before) {
		t.Error("the PCR changed")
	}
}

// A log that does not parse is set aside, and a new one begins.
func TestUnreadableLogSetAside(t *testing.T) {
	sim, st := newSim(t), newState(t)
	st.close()
	os.WriteFile(st.file(logName), []byte("\x1e{\"not\":\"a log\"}\n"), 0o600)
	st.open(t)
	_, hook := openLogs(t, sim, st, Options{})
	if string(st.read(t, badName)) != "\x1e{\"not\":\"a log\"}\n" {
		t.Errorf(".eventlog.bad = %q", st.read(t, badName))
	}
	if lg := st.parse(t, logName); len(lg.Records) != 1 {
		t.Errorf("new log: %d records", len(lg.Records))
	}
	found := false
	for _, e := range hook.AllEntries() {
		found = found || strings.Contains(e.Message, "set aside")
	}
	if !found {
		t.Error("no log line says the log was set aside")
	}
}

// Snapshots keep their length and bytes while the log grows.
func TestSnapshotStable(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	a, _ := l.Open(ctx, TPMFS)
	defer a.Close()
	first, _ := readAll(a)
	sim.core.Measure(ctx, 16, []byte("more"))
	b, _ := l.Open(ctx, TPMFS)
	defer b.Close()
	if a.Size() != int64(len(first)) || b.Size() <= a.Size() {
		t.Fatalf("sizes %d then %d", a.Size(), b.Size())
	}
	again, _ := readAll(a)
	rest, _ := readAll(b)
	if !bytes.Equal(again, first) || !bytes.HasPrefix(rest, first) {
		t.Error("a snapshot changed, or the log was not appended to")
	}
	if n, err := a.ReadAt(make([]byte, 10), a.Size()); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v", n, err)
	}
}

// CheckRoom is what a writer sees at open: a full log, or no room in
// the state directory.
func TestCheckRoom(t *testing.T) {
	sim, st := newSim(t), newState(t)
	l, _ := openLogs(t, sim, st, Options{})
	if err := l.CheckRoom(); err != nil {
		t.Fatal(err)
	}
	l.journal.mu.Lock()
	l.journal.size = MaxSize - 100
	l.journal.mu.Unlock()
	if err := l.CheckRoom(); !errors.Is(err, ErrFull) {
		t.Fatalf("a full log: %v", err)
	}
}
