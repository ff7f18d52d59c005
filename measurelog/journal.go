package measurelog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"tpmfs/eventlog"
	"tpmfs/sealstore"
	"tpmfs/tpmcore"
)

// The journal's files in the state directory (docs/state-format.md).
const (
	logName     = ".eventlog"         // this boot's log
	oldName     = ".eventlog.1"       // the previous boot's
	pendingName = ".eventlog.pending" // the record of an extend in flight
	tmpName     = ".eventlog.tmp"     // a new log being started
	badName     = ".eventlog.bad"     // a log that could not be read, set aside
)

// MaxSize bounds one boot's log; past it extends fail with ENOSPC. A
// record takes a few hundred bytes, or some 8 KiB with 4 KiB of event
// data.
const MaxSize = 64 << 20

// ErrFull: the log of this boot has reached MaxSize.
var ErrFull = fmt.Errorf("event log full (%d MiB for one TPM boot): %w", MaxSize>>20, syscall.ENOSPC)

// Journal is tpmfs's own event log: a tpmcore.Recorder. Recorder methods
// run on tpmcore's worker, one at a time; Snapshot and Size may be
// called from anywhere.
type Journal struct {
	store *sealstore.Store
	log   *logrus.Entry

	mu   sync.Mutex  // guards file and size, which snapshots read
	file *sharedFile // the open log; nil before the first boot's
	size int64       // bytes of whole records in it

	// Worker-owned.
	next     uint64 // recnum of the next record
	boot     tpmcore.Boot
	hasBoot  bool
	pending  *tpmcore.Extension
	pendLine []byte // pending's record, as it will be appended
}

var _ tpmcore.Recorder = (*Journal)(nil)

// OpenJournal opens the log in store's state directory. A record cut
// short by a crash is removed; a log that does not parse is set aside
// as .eventlog.bad (and a new one starts at the next settle); a pending
// record is kept for the first settle to decide.
//
// The journal keeps its log open for reading only, and opens files for
// writing only while it writes them, so that the state directory's file
// system can be remounted read-only under a running tpmfs (as sealstore
// allows).
func OpenJournal(store *sealstore.Store, log *logrus.Entry) (*Journal, error) {
	j := &Journal{store: store, log: log}
	f, err := store.OpenFile(logName, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	lg, good, err := readLog(f)
	switch {
	case err == nil:
	case eventlog.IsTruncated(err) && lg.Boot != nil:
		// The append of a record was cut short; its extend is the
		// pending record's, which settling decides.
		if err := j.write(logName, 0, func(w *os.File) error { return truncateSync(w, int64(good)) }); err != nil {
			f.Close()
			return nil, fmt.Errorf("event log: drop a partial record: %w", err)
		}
		log.WithField("bytes", good).Warn("event log: dropped the partial record a crash left at its end")
	default:
		f.Close()
		log.WithError(err).Error("event log unreadable: set aside as " + badName + "; a new log begins")
		if rerr := store.RenameFile(logName, badName); rerr != nil {
			return nil, fmt.Errorf("event log: set aside an unreadable log: %w", rerr)
		}
		return j, nil
	}
	j.file, j.size, j.next = newShared(f), int64(good), uint64(len(lg.Records))
	j.boot, j.hasBoot = bootOf(lg.Boot), true
	j.loadPending()
	return j, nil
}

// readLog reads and parses a whole log file.
func readLog(f *os.File) (*eventlog.Log, int, error) {
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return &eventlog.Log{}, 0, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxSize {
		return &eventlog.Log{}, 0, fmt.Errorf("%w: over %d bytes", eventlog.ErrInvalid, MaxSize)
	}
	return eventlog.ParseLog(data)
}

func truncateSync(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// write opens the journal's file name for writing (with flags added to
// O_WRONLY), runs fn on it and closes it.
func (j *Journal) write(name string, flags int, fn func(f *os.File) error) error {
	f, err := j.store.OpenFile(name, os.O_WRONLY|flags)
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the journal's files; snapshots keep theirs.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.file != nil {
		j.file.release()
		j.file = nil
	}
	return nil
}

// Snapshot returns the log as it is now: whole records only.
func (j *Journal) Snapshot() Snapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.file == nil {
		return &fileSnapshot{}
	}
	return &fileSnapshot{sh: j.file.hold(), size: j.size}
}

// Size is the log's length now.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Boot is the boot the log belongs to.
func (j *Journal) Boot() (tpmcore.Boot, bool) { return j.boot, j.hasBoot }

// NewBoot starts the log of boot b: its header is written and synced to
// a new file, the current log becomes .eventlog.1, and the new file
// takes its place. A crash in between leaves the old log or the new one
// in place (and at worst no log, which the next settle starts again).
func (j *Journal) NewBoot(b tpmcore.Boot) error {
	if j.pending != nil {
		j.log.WithField("pcr", j.pending.PCR).Warn("event log: the TPM was reset before an extend's outcome was known; its record is dropped")
		j.dropPending()
	}
	content, err := headerOf(b, time.Now()).Marshal()
	if err != nil {
		return fmt.Errorf("new event log: %w", err)
	}
	head, err := eventlog.MarshalSeq(&eventlog.Record{Recnum: 0, PCR: 0, ContentType: eventlog.ContentType, Content: content})
	if err != nil {
		return fmt.Errorf("new event log: %w", err)
	}
	err = j.write(tmpName, os.O_CREATE|os.O_TRUNC, func(f *os.File) error {
		if _, err := f.WriteAt(head, 0); err != nil {
			return err
		}
		return f.Sync()
	})
	if err != nil {
		return fmt.Errorf("new event log: write %s: %w", tmpName, err)
	}
	j.mu.Lock()
	had := j.file != nil
	j.mu.Unlock()
	if had {
		if err := j.store.RenameFile(logName, oldName); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("new event log: keep the old one: %w", err)
		}
	}
	if err := j.store.RenameFile(tmpName, logName); err != nil {
		return fmt.Errorf("new event log: %w", err)
	}
	f, err := j.store.OpenFile(logName, os.O_RDONLY)
	if err != nil {
		return fmt.Errorf("new event log: %w", err)
	}
	j.mu.Lock()
	old := j.file
	j.file, j.size = newShared(f), int64(len(head))
	j.mu.Unlock()
	if old != nil {
		old.release()
	}
	j.next, j.boot, j.hasBoot = 1, b, true
	return nil
}

// headerOf is the content of the header record of boot b.
func headerOf(b tpmcore.Boot, now time.Time) *eventlog.Content {
	c := &eventlog.Content{Type: eventlog.TypeBoot, Time: now.UTC(), Family: b.Family}
	if b.Family == eventlog.Family12 {
		c.TickNonce = eventlog.Hex(b.TickNonce[:])
	} else {
		c.ResetCount, c.RestartCount = &b.ResetCount, &b.RestartCount
	}
	return c
}

// bootOf is the boot a header names (ParseLog checked it).
func bootOf(c *eventlog.Content) tpmcore.Boot {
	b := tpmcore.Boot{Family: c.Family}
	if c.Family == eventlog.Family12 {
		copy(b.TickNonce[:], c.TickNonce)
	} else {
		b.ResetCount, b.RestartCount = *c.ResetCount, *c.RestartCount
	}
	return b
}
