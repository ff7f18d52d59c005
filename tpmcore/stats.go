package tpmcore

import (
	"sort"
	"sync"
	"time"

	"tpmfs/internal/tpmwire"
)

// Status is what the core has seen since it started: what an
// administrator looks at first when something is slow or failing (the
// mount's status file), and what a benchmark counts commands with.
type Status struct {
	Started   time.Time
	Reachable bool
	Since     time.Time // of the last change of Reachable (or Started)
	LastError string    // "" if none
	LastErrAt time.Time
	Commands  []CommandStat // by code, each command sent on the wire
	// QueueDepth is how many operations wait for the TPM now;
	// LongestWait the longest any waited, since start.
	QueueDepth  int
	LongestWait time.Duration
	// PCRReads are the PCR values callers read; the PCR_Read commands
	// that answered them are among Commands.
	PCRReads uint64
	PCRCode  uint32 // the command code of a PCR read on this TPM
	Raw      []RawUsage
}

// CommandStat counts one command code.
type CommandStat struct {
	Code  uint32
	Name  string
	Count uint64
	Total time.Duration // on the wire, retries of TPM warnings included
}

// Mean is the mean time of one command.
func (s CommandStat) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Total / time.Duration(s.Count)
}

// RawUsage is what one uid holds through raw clients (tpmrm0).
type RawUsage struct {
	UID                      uint32
	Opens, Objects, Sessions int
}

// stats collects Status. Its hooks run on the queue's worker (command,
// wait, health) and on readers' goroutines (PCR reads).
type stats struct {
	mu          sync.Mutex
	started     time.Time
	reachable   bool
	since       time.Time
	lastErr     string
	lastErrAt   time.Time
	cmds        map[uint32]*CommandStat
	longestWait time.Duration
	pcrReads    uint64
}

func newStats(now time.Time) *stats {
	return &stats{started: now, since: now, reachable: true, cmds: map[uint32]*CommandStat{}}
}

// command counts one command sent and answered (or failed) on the wire.
func (s *stats) command(cmd []byte, d time.Duration) {
	cc, ok := tpmwire.Code(cmd)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cmds[cc]
	if c == nil {
		c = &CommandStat{Code: cc}
		s.cmds[cc] = c
	}
	c.Count++
	c.Total += d
}

// health notes a change between reachable and unreachable.
func (s *stats) health(ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if ok != s.reachable {
		s.reachable, s.since = ok, now
	}
	if err != nil {
		s.lastErr, s.lastErrAt = err.Error(), now
	}
}

func (s *stats) waited(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.longestWait = max(s.longestWait, d)
}

func (s *stats) pcrRead() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pcrReads++
}

// Status returns what the core has seen so far.
func (c *Core) Status() Status {
	s := c.q.stats
	s.mu.Lock()
	st := Status{
		Started: s.started, Reachable: s.reachable, Since: s.since,
		LastError: s.lastErr, LastErrAt: s.lastErrAt,
		QueueDepth: c.q.depth(), LongestWait: s.longestWait,
		PCRReads: s.pcrReads, PCRCode: c.fam.pcrReadCode(),
	}
	for _, cs := range s.cmds {
		st.Commands = append(st.Commands, *cs)
	}
	s.mu.Unlock()
	sort.Slice(st.Commands, func(i, j int) bool { return st.Commands[i].Code < st.Commands[j].Code })
	for i := range st.Commands {
		st.Commands[i].Name = c.fam.commandName(st.Commands[i].Code)
	}
	st.Raw = c.fam.rawUsage()
	return st
}
