package rm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"
)

// Sentinel errors.
var (
	// ErrUnsupported: the TPM lacks what the manager needs (TPM 2.0 context
	// management, or a usable TPM_CAP_COMMANDS).
	ErrUnsupported = errors.New("rm: TPM does not support resource management")
	// ErrBadResponse: the TPM answered with something that is not a response.
	ErrBadResponse = errors.New("rm: malformed TPM response")
	// ErrSpaceClosed: the space was flushed; it takes no more commands.
	ErrSpaceClosed = errors.New("rm: space closed")
)

// Manager knows the TPM's command attributes and hands out spaces. Its
// methods may be called from any goroutine; the caller gives each call
// exclusive use of the TPM for its duration.
type Manager struct {
	mu    sync.Mutex
	attrs map[uint32]cmdAttr // by command code, from TPM_CAP_COMMANDS
	// owner maps each session the manager keeps to its space, so any space
	// can close the context gap and a reused handle has one owner only.
	owner map[uint32]*Space
	// detached holds the sessions clients saved themselves (saved.go).
	detached map[uint32]*detached
	saves    uint64 // counts client saves, to find the oldest
	// spaces are the open spaces, for the per-uid quotas (quota.go).
	spaces map[*Space]struct{}
	rules  Rules // set by SetRules (rules.go)
	da     da    // the dictionary-attack guard (lockout.go)
	log    logrus.FieldLogger
	// clock counts commands, to find the contexts resident longest
	// unused (resident.go).
	clock uint64
	// objectSlots and sessionSlots are how many objects and sessions
	// the TPM surely holds loaded at once (TPM_PT_HR_TRANSIENT_MIN,
	// TPM_PT_HR_LOADED_MIN).
	objectSlots, sessionSlots int
	// onChange runs after a client changed a hierarchy (resident.go).
	onChange func()
}

// New asks the TPM which commands it has and how many handles each takes
// (TPM_CAP_COMMANDS), rather than trusting a table of its own, so vendor
// and newer commands are parsed as the TPM parses them.
func New(tpm transport.TPM) (*Manager, error) {
	attrs, err := readCommandAttrs(tpm)
	if err != nil {
		return nil, err
	}
	for _, cc := range []tpm2.TPMCC{tpm2.TPMCCContextSave, tpm2.TPMCCContextLoad, tpm2.TPMCCFlushContext} {
		if _, ok := attrs[uint32(cc)]; !ok {
			return nil, fmt.Errorf("%w: no command 0x%x", ErrUnsupported, uint32(cc))
		}
	}
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	objects, sessions, err := readSlots(tpm)
	if err != nil {
		return nil, err
	}
	return &Manager{
		objectSlots: objects, sessionSlots: sessions,
		attrs:    attrs,
		owner:    make(map[uint32]*Space),
		detached: make(map[uint32]*detached),
		spaces:   make(map[*Space]struct{}),
		log:      quiet,
		da:       da{strikes: map[uint32][]time.Time{}, now: time.Now},
	}, nil
}

// SetLogger sends the manager's diagnostics (contexts it had to drop,
// flushes that failed) to l. By default they are discarded.
func (m *Manager) SetLogger(l logrus.FieldLogger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = l
}

// Transmit runs one client command in sp and returns its response: parse
// and check it (against the command policy too, for a non-admin space),
// make the contexts it names resident and translate virtual handles,
// send it over tpm, then virtualise response handles and filter
// GetCapability(TPM_CAP_HANDLES). What the command used stays resident
// (resident.go). The caller holds exclusive use of tpm for the duration.
//
// There is always a response: malformed commands and the manager's own
// failures become TPM error responses tagged with RMLayer. The error is
// for a failing transport only (the space may then have lost contexts),
// or ErrSpaceClosed.
func (m *Manager) Transmit(tpm transport.TPM, sp *Space, cmd []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sp.closed {
		return nil, ErrSpaceClosed
	}
	c, rc := parseCommand(cmd, m.attrs)
	if rc != tpm2.TPMRCSuccess {
		return errorResponse(rc), nil
	}
	if rsp, refused := m.refuse(sp, c, cmd); refused {
		return rsp, nil
	}
	if rc := m.daRefuse(tpm, sp, c); rc != tpm2.TPMRCSuccess {
		return errorResponse(rc), nil
	}
	x := &txn{m: m, sp: sp, t: tpm, c: c, orig: cmd, buf: bytes.Clone(cmd)}
	rsp, err := x.run()
	if err == nil {
		m.daNote(tpm, sp, rsp)
	}
	return rsp, err
}

// adoptSession makes h one of sp's sessions. A handle another space still
// lists is stale (the TPM only reuses the handle of a session that is
// gone), so that space loses it.
func (m *Manager) adoptSession(sp *Space, h uint32) {
	if prev := m.owner[h]; prev != nil && prev != sp {
		delete(prev.sessions, h)
	}
	delete(m.detached, h)
	m.owner[h] = sp
	if sp.sessions[h] == nil {
		sp.sessions[h] = &session{}
	}
}

func (m *Manager) forgetSession(sp *Space, h uint32) {
	delete(sp.sessions, h)
	if m.owner[h] == sp {
		delete(m.owner, h)
	}
}

// readSlots reads how many objects and sessions the TPM holds loaded at
// once, at least (three each in the reference implementation and on
// common chips).
func readSlots(tpm transport.TPM) (objects, sessions int, err error) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTHRTransientMin),
		PropertyCount: 3,
	}.Execute(tpm)
	if err != nil {
		return 0, 0, fmt.Errorf("get capability slots: %w", err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	objects, sessions = 3, 3 // the minimum the PC Client profile asks
	for _, p := range props.TPMProperty {
		switch p.Property {
		case tpm2.TPMPTHRTransientMin:
			objects = max(int(p.Value), 2)
		case tpm2.TPMPTHRLoadedMin:
			sessions = max(int(p.Value), 2)
		}
	}
	return objects, sessions, nil
}

// maxCapCommands asks for as many attributes per GetCapability as the TPM
// will give; it trims the count to what fits its response.
const maxCapCommands = 1024

// readCommandAttrs reads TPM_CAP_COMMANDS, following moreData.
func readCommandAttrs(tpm transport.TPM) (map[uint32]cmdAttr, error) {
	attrs := make(map[uint32]cmdAttr)
	next := uint32(tpm2.TPMCCNVUndefineSpaceSpecial) // TPM_CC_FIRST
	for range 64 {
		rsp, err := tpm2.GetCapability{
			Capability:    tpm2.TPMCapCommands,
			Property:      next,
			PropertyCount: maxCapCommands,
		}.Execute(tpm)
		if err != nil {
			return nil, fmt.Errorf("get capability commands from 0x%x: %w", next, err)
		}
		list, err := rsp.CapabilityData.Data.Command()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		last := next
		for _, a := range list.CommandAttributes {
			cc := uint32(a.CommandIndex)
			if a.V {
				cc |= 1 << 29 // vendor commands carry the V bit in their code
			}
			attrs[cc] = cmdAttr{handles: int(a.CHandles), rHandle: a.RHandle, flushed: a.Flushed}
			last = cc
		}
		if !rsp.MoreData || len(list.CommandAttributes) == 0 {
			if len(attrs) == 0 {
				return nil, fmt.Errorf("%w: empty command list", ErrUnsupported)
			}
			return attrs, nil
		}
		next = last + 1
	}
	return nil, fmt.Errorf("%w: command list does not end", ErrUnsupported)
}
