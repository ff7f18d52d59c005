package tddl

import (
	"errors"
	"time"

	"tpmfs/internal/tpmwire"
)

// TPM is one open connection to a TPM. It has the shape of go-tpm's
// transport.TPMCloser, so go-tpm's typed commands run over it directly.
// Send is not safe for concurrent use; Close (and Cancel, SetDeadline where
// implemented) may be called from another goroutine while Send runs.
type TPM interface {
	// Send transmits one whole command and returns one whole response.
	// A TPM error is a successful Send whose response carries a non-zero
	// response code; a Go error means the exchange itself failed.
	Send(cmd []byte) ([]byte, error)
	// Close releases the backend. Closing unblocks a Send in progress.
	// Closing twice is not an error.
	Close() error
}

// Canceler is implemented by backends that can ask the TPM to abort the
// command it is running (swtpm's control channel). It may be called from
// another goroutine while Send is blocked.
type Canceler interface {
	Cancel() error
}

// Deadliner is implemented by backends whose Send can be bounded in time
// (sockets). A zero time clears the deadline. A Send past its deadline
// fails with an error wrapping os.ErrDeadlineExceeded.
type Deadliner interface {
	SetDeadline(t time.Time) error
}

// Kind names a backend.
type Kind string

const (
	KindAuto   Kind = "auto"   // /dev/tpmrm0 if present, else /dev/tpm0
	KindDevice Kind = "device" // kernel character device
	KindSwtpm  Kind = "swtpm"  // swtpm data channel, TCP or Unix socket
	KindSim    Kind = "sim"    // in-process reference simulator
)

// Config is a parsed SOURCE: which backend and where.
type Config struct {
	Kind Kind
	// Path is the device path (KindDevice) or the Unix socket (KindSwtpm).
	Path string
	// Host and Port address a TCP swtpm when Path is empty.
	Host string
	Port int
	// StateDir keeps the simulator's seed across restarts (KindSim).
	StateDir string
}

// MaxCommandSize is the largest command or response tddl moves, as the
// kernel driver's TPM_BUFSIZE.
const MaxCommandSize = tpmwire.MaxSize

// Sentinel errors; backends wrap them with context.
var (
	ErrClosed      = errors.New("tddl: connection closed")
	ErrNotBuiltIn  = errors.New("tddl: backend not built into this binary")
	ErrBadResponse = errors.New("tddl: malformed response")
	ErrCommandSize = errors.New("tddl: command size out of range")
	ErrUnreachable = errors.New("tddl: TPM unreachable")
	// ErrBadSource marks a SOURCE string or Config that does not parse.
	ErrBadSource = errors.New("tddl: bad SOURCE")
	// ErrBusy marks a backend that allows one user and already has one
	// (the in-process simulator).
	ErrBusy = errors.New("tddl: backend already in use")
)
