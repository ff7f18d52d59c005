package latency

import (
	"fmt"
	"maps"
	"sync"
	"time"

	"tpmfs/internal/tpmwire"
	"tpmfs/tddl"
)

// Kind is one kind of command as the model prices and counts it.
type Kind struct {
	Code    uint32
	Variant string // see Variant
	// Failed: the TPM answered with an error code, which it finds before
	// doing the work; it is priced as the profile's row for any command.
	Failed bool
}

// Stats is what the commands a model served cost.
type Stats struct {
	Count map[Kind]int
	// Modelled is the sum of the commands' modelled times.
	Modelled time.Duration
	// ByKind is the modelled time per kind.
	ByKind map[Kind]time.Duration
}

// Commands is the number of commands.
func (s Stats) Commands() int {
	n := 0
	for _, c := range s.Count {
		n += c
	}
	return n
}

// Sub returns what s has beyond an earlier snapshot prev.
func (s Stats) Sub(prev Stats) Stats {
	out := Stats{Count: map[Kind]int{}, ByKind: map[Kind]time.Duration{}, Modelled: s.Modelled - prev.Modelled}
	for k, n := range s.Count {
		if d := n - prev.Count[k]; d != 0 {
			out.Count[k] = d
		}
	}
	for k, t := range s.ByKind {
		if d := t - prev.ByKind[k]; d != 0 {
			out.ByKind[k] = d
		}
	}
	return out
}

// Model serves commands as the TPM of a profile would, one at a time.
type Model struct {
	p *Profile

	serve sync.Mutex // held while a command is being served

	mu    sync.Mutex
	stats Stats
}

// New returns a model of p.
func New(p *Profile) *Model {
	return &Model{p: p, stats: Stats{Count: map[Kind]int{}, ByKind: map[Kind]time.Duration{}}}
}

// Profile is the model's profile.
func (m *Model) Profile() *Profile { return m.p }

// Stats returns a snapshot of what the model has served so far.
func (m *Model) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Count: maps.Clone(m.stats.Count), ByKind: maps.Clone(m.stats.ByKind), Modelled: m.stats.Modelled}
}

// Price returns the kind of cmd and its modelled time, given the response
// code the TPM answered it with.
func (m *Model) Price(cmd []byte, rc uint32) (Kind, time.Duration) {
	code, _ := tpmwire.Code(cmd)
	k := Kind{Code: code, Variant: Variant(cmd), Failed: rc != 0}
	if k.Failed {
		return k, m.p.Cost(0, "").Time // the profile's row for any command
	}
	return k, m.p.Cost(code, k.Variant).Time
}

func (m *Model) record(k Kind, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Count[k]++
	m.stats.ByKind[k] += d
	m.stats.Modelled += d
}

// Wrap returns a connection to inner whose commands the model serves.
// Closing it closes inner.
func (m *Model) Wrap(inner tddl.TPM) *Conn {
	return &Conn{Hold: tddl.NewHold(inner), m: m, inner: inner}
}

// Conn is one connection through a Model.
type Conn struct {
	*tddl.Hold // SetDeadline and Close
	m          *Model
	inner      tddl.TPM
}

// Send waits for the model, has inner answer cmd and returns the answer
// once the command's modelled time has passed since the model took it.
// A failed exchange returns at once and is not counted.
func (c *Conn) Send(cmd []byte) ([]byte, error) {
	c.m.serve.Lock()
	defer c.m.serve.Unlock()
	start := time.Now()
	rsp, err := c.inner.Send(cmd)
	if err != nil {
		return nil, err
	}
	rc, _ := tpmwire.Code(rsp)
	k, d := c.m.Price(cmd, rc)
	c.m.record(k, d)
	if err := c.wait(start.Add(d)); err != nil {
		return nil, err
	}
	return rsp, nil
}

// wait sleeps until t unless Close or the deadline comes first.
func (c *Conn) wait(t time.Time) error {
	if err := c.Wait(time.Until(t)); err != nil {
		return fmt.Errorf("latency: modelled command time: %w", err)
	}
	return nil
}

var (
	_ tddl.TPM       = (*Conn)(nil)
	_ tddl.Deadliner = (*Conn)(nil)
)
