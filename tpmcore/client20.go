package tpmcore

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/rm"
)

// The raw channel on a TPM 2.0: a resource manager space, so that a
// client's transient objects and sessions are its own and are flushed
// when it closes.

// spaceChannel runs a client's commands in its space.
type spaceChannel struct {
	f     *family20
	space *rm.Space
}

// openRaw opens a space for uid, whom the manager's rules may hold to a
// command policy and quota.
func (f *family20) openRaw(uid uint32) (rawChannel, error) {
	m, err := f.manager()
	if err != nil {
		return nil, err
	}
	sp, err := m.NewSpace(uid)
	if err != nil {
		return nil, fmt.Errorf("open raw channel for uid %d: %w", uid, err)
	}
	return &spaceChannel{f: f, space: sp}, nil
}

// manager returns the resource manager, made on first use.
func (f *family20) manager() (*rm.Manager, error) {
	f.rmMu.Lock()
	m := f.rm
	f.rmMu.Unlock()
	if m != nil {
		return m, nil
	}
	ctx, cancel := f.c.ctx(context.Background())
	defer cancel()
	err := f.c.q.do(ctx, func(t transport.TPM) (err error) {
		m, err = f.managerIn(t)
		return err
	})
	return m, err
}

// managerIn makes the resource manager on first use, in a job: it asks
// the TPM for its command attributes, which raw clients and the Keeper's
// internal space need.
func (f *family20) managerIn(t transport.TPM) (*rm.Manager, error) {
	if f.rm != nil {
		return f.rm, nil
	}
	m, err := rm.New(t)
	if err != nil {
		return nil, fmt.Errorf("start resource manager: %w", err)
	}
	m.SetLogger(f.c.log.WithField("component", "rm"))
	m.SetRules(f.c.opts.RawRules)
	// A raw client (root) changed a hierarchy: 0x81000001 may be another
	// key now, or the template primary another key (TPM2_Clear).
	m.OnHierarchyChange(f.keeper.Reprobe)
	f.own = m.NewInternalSpace()
	f.rmMu.Lock()
	f.rm = m
	f.rmMu.Unlock()
	return m, nil
}

func (s *spaceChannel) transmit(ctx context.Context, cmd []byte) (rsp []byte, err error) {
	err = s.f.c.q.do(ctx, func(t transport.TPM) (err error) {
		rsp, err = spaceTPM{f: s.f, sp: s.space, t: t}.Send(cmd)
		return err
	})
	return rsp, err
}

// close flushes everything the space holds in the TPM.
func (s *spaceChannel) close() error {
	ctx, cancel := s.f.c.ctx(context.Background())
	defer cancel()
	return s.f.c.q.do(ctx, func(t transport.TPM) error {
		return s.f.inRM(func(m *rm.Manager) error { return m.Flush(t, s.space) })
	})
}
