package measurelog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"tpmfs/eventlog"
	"tpmfs/sealstore"
	"tpmfs/tddl"
	"tpmfs/tpmcore"
)

// simTPM is the in-process simulator behind a Core, which can be reset
// (a TPM Reset: resetCount goes up, PCRs start again).
type simTPM struct {
	sim  *simulator.Simulator
	core *tpmcore.Core
}

type simConn struct{ transport.TPM }

func (simConn) Close() error { return nil }

func newSim(t testing.TB) *simTPM {
	t.Helper()
	sim, err := simulator.Get()
	if err != nil {
		t.Fatal(err)
	}
	s := &simTPM{sim: sim}
	logger, _ := logtest.NewNullLogger()
	s.core, err = tpmcore.New(func() (tddl.TPM, error) {
		return simConn{transport.FromReadWriter(sim)}, nil
	}, tpmcore.Options{Source: "sim:", Log: logrus.NewEntry(logger)})
	if err != nil {
		sim.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.core.Close()
		sim.Close()
	})
	return s
}

// state is a state directory that tests open, close and reopen.
type state struct {
	dir   string
	store *sealstore.Store
}

func newState(t testing.TB) *state {
	t.Helper()
	s := &state{dir: t.TempDir()}
	s.open(t)
	t.Cleanup(func() { s.close() })
	return s
}

func (s *state) open(t testing.TB) {
	t.Helper()
	st, err := sealstore.Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	s.store = st
}

func (s *state) close() {
	if s.store != nil {
		s.store.Close()
		s.store = nil
	}
}

func (s *state) file(name string) string { return filepath.Join(s.dir, name) }

// read returns a file of the state directory, nil if it is missing.
func (s *state) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(s.file(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parse parses a state file as a tpmfs log, failing the test if it is
// not one.
func (s *state) parse(t *testing.T, name string) *eventlog.Log {
	t.Helper()
	b := s.read(t, name)
	lg, good, err := eventlog.ParseLog(b)
	if err != nil || good != len(b) {
		t.Fatalf("%s: %v after %d of %d bytes:\n%s", name, err, good, len(b), b)
	}
	return lg
}

// openLogs opens the logs on sim and st, with a captured log.
func openLogs(t testing.TB, sim *simTPM, st *state, opts Options) (*Logs, *logtest.Hook) {
	t.Helper()
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	opts.Log = logrus.NewEntry(logger)
	l, err := New(context.Background(), sim.core, st.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, hook
}

// replay replays a tpmfs log alone from reset values.
func replay(lg *eventlog.Log, banks []tpmcore.Bank) eventlog.Values {
	v := eventlog.Initial(banks, 0)
	lg.Replay(v)
	return v
}

// matches checks that replaying the log gives PCR pcr's values now in
// every bank.
func matches(t *testing.T, sim *simTPM, lg *eventlog.Log, pcr int) {
	t.Helper()
	v := replay(lg, sim.core.Banks())
	for _, b := range sim.core.Banks() {
		now, err := sim.core.ReadPCR(context.Background(), b, pcr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v[b.Name][pcr], now) {
			t.Errorf("%s:%d replays to %x, is %x", b.Name, pcr, v[b.Name][pcr], now)
		}
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
