//go:build cgo

package tddl

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/google/go-tpm-tools/simulator"
)

// simInUse guards the process-global simulator: simulator.Get would block
// until the holder closes it, so a second Open fails at once instead.
// (Code that calls simulator.Get directly bypasses this guard.)
var simInUse atomic.Bool

// sim is the in-process Microsoft reference simulator. Its commands run
// synchronously in C, so Close waits for a Send in progress to finish.
type sim struct {
	mu sync.Mutex
	s  *simulator.Simulator // nil once closed
}

// openSim starts the simulator. With stateDir its hierarchy seeds come from
// stateDir/seed, so primary keys such as the SRK survive a restart; nothing
// else (NV, persistent handles, PCRs) does. The program, not tddl, warns
// its user that the simulator keeps no secret.
func openSim(stateDir string) (TPM, error) {
	if !simInUse.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("open sim: %w: the simulator is process-global and already open", ErrBusy)
	}
	s, err := startSim(stateDir)
	if err != nil {
		simInUse.Store(false)
		return nil, fmt.Errorf("open sim: %w", err)
	}
	return &sim{s: s}, nil
}

func startSim(stateDir string) (*simulator.Simulator, error) {
	if stateDir == "" {
		return simulator.Get()
	}
	seed, err := loadSeed(stateDir)
	if err != nil {
		return nil, err
	}
	return simulator.GetWithFixedSeedInsecure(seed)
}

func (m *sim) Send(cmd []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.s == nil {
		return nil, fmt.Errorf("send to sim: %w", ErrClosed)
	}
	if err := checkCommand(cmd); err != nil {
		return nil, fmt.Errorf("send to sim: %w", err)
	}
	if _, err := m.s.Write(cmd); err != nil {
		return nil, fmt.Errorf("send to sim: %w", err)
	}
	// The simulator buffers the response; take all of it so that nothing
	// is left to prefix the next one.
	rsp, err := io.ReadAll(m.s)
	if err != nil {
		return nil, fmt.Errorf("send to sim: read: %w", err)
	}
	if err := checkResponse(rsp); err != nil {
		return nil, fmt.Errorf("send to sim: %w", err)
	}
	return rsp, nil
}

func (m *sim) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.s == nil {
		return nil
	}
	err := m.s.Close()
	m.s = nil
	simInUse.Store(false)
	if err != nil {
		return fmt.Errorf("close sim: %w", err)
	}
	return nil
}
