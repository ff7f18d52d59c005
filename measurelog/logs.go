package measurelog

import (
	"context"
	"fmt"
	"sync"

	"github.com/sirupsen/logrus"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
)

// TPM is what the logs need of tpmcore.Core.
type TPM interface {
	Banks() []tpmcore.Bank
	SetRecorder(ctx context.Context, r tpmcore.Recorder) error
	Settle(ctx context.Context) error
	ReadAllPCRs(ctx context.Context, during func()) (map[string][][]byte, error)
}

// TPMFS is the name of tpmfs's own log among the logs.
const TPMFS = "tpmfs"

// Options say where the kernel's logs are.
type Options struct {
	// KernelDir is eventlog_dir=, the securityfs mount ("" for none);
	// TPMIndex the N of its tpmN directory.
	KernelDir string
	TPMIndex  int
	Log       *logrus.Entry
}

// Logs are the logs of one mount (eventlog/).
type Logs struct {
	tpm     TPM
	journal *Journal
	kernel  *Kernel
	log     *logrus.Entry

	// verifying lets one Verify run at a time: each reads every PCR
	// and parses whole logs, and any user may open verify.
	verifying sync.Mutex
}

// New opens tpmfs's log in store's state directory, makes it tpm's
// Recorder, and finds the kernel's logs. A log that cannot be brought up
// to date now (a read-only state directory under a new TPM boot) does
// not stop the mount: extends fail with the reason until it can.
func New(ctx context.Context, tpm TPM, store *sealstore.Store, opts Options) (*Logs, error) {
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	j, err := OpenJournal(store, opts.Log)
	if err != nil {
		return nil, err
	}
	if err := tpm.SetRecorder(ctx, j); err != nil {
		opts.Log.WithError(err).Warn("event log: not up to date with the TPM; extends fail until it is")
	}
	return &Logs{tpm: tpm, journal: j, kernel: NewKernel(opts.KernelDir, opts.TPMIndex), log: opts.Log}, nil
}

// Close closes the journal; open snapshots stay readable.
func (l *Logs) Close() error { return l.journal.Close() }

// Kernel lists the kernel's logs present ("firmware", "ima-ascii",
// "ima-binary").
func (l *Logs) Kernel() []string { return l.kernel.Names() }

// Open returns a snapshot of log name: TPMFS or one of Kernel. tpmfs's
// log is brought up to date with the TPM first (a new boot, a pending
// record), if the TPM answers.
func (l *Logs) Open(ctx context.Context, name string) (Snapshot, error) {
	if name != TPMFS {
		return l.kernel.Open(name)
	}
	if err := l.tpm.Settle(ctx); err != nil {
		l.log.WithError(err).Debug("event log: not settled before a read")
	}
	return l.journal.Snapshot(), nil
}

// CheckRoom reports whether an extend can be recorded now: the log is
// not full, and the state directory is writable and has room for a
// record. It is the early check a writer sees at open (a shell ignores
// the errors of close, where events are measured).
func (l *Logs) CheckRoom() error {
	if l.journal.Size()+recordRoom > MaxSize {
		return ErrFull
	}
	if err := l.journal.store.CheckRoom(recordRoom); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return nil
}

// recordRoom is about the most one record and its pending copy take.
const recordRoom = 32 << 10

// Size is the length of log name now.
func (l *Logs) Size(name string) (int64, error) {
	if name == TPMFS {
		return l.journal.Size(), nil
	}
	return l.kernel.Size(name)
}
