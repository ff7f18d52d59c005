package tpmcore

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/tpmcore/nv"
)

// NV indices on a TPM 2.0 (package nv). Each access checks, in the same
// job, that the index is still the one the caller saw (ErrStale when it
// was undefined or redefined since), and is authorised by owner (the
// storage hierarchy's secret, srk_auth=) when asOwner and the index
// allows it, else by the index's empty auth value. A TPM 1.2 answers
// ErrUnsupported.

// NVPublic is an index's public area.
type NVPublic = nv.Public

// nvAuthFailures remembers indices (by name) whose auth value turned out
// not to be empty, so that tpmfs asks only once: each failure of an
// index without noDA counts towards the TPM's dictionary-attack lockout,
// which would lock everyone out.
type nvAuthFailures struct {
	mu    sync.Mutex
	names map[string]bool
}

func (f *nvAuthFailures) failed(p NVPublic) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names[hex.EncodeToString(p.Name.Buffer)]
}

func (f *nvAuthFailures) note(p NVPublic) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.names == nil {
		f.names = map[string]bool{}
	}
	f.names[hex.EncodeToString(p.Name.Buffer)] = true
}

// NVBuffer is the most bytes one NV command moves; reads and writes are
// chunked at it.
func (c *Core) NVBuffer() int { return c.nvBuffer }

// NVList returns the defined NV indices, in order.
func (c *Core) NVList(ctx context.Context) ([]uint32, error) {
	return attestCall(c, ctx, "list NV indices", func(t transport.TPM) ([]uint32, error) {
		return nv.List(t, nv.First, nv.Last)
	})
}

// NVPublic reads index's public area; an index not defined is
// ErrNotFound.
func (c *Core) NVPublic(ctx context.Context, index uint32) (NVPublic, error) {
	if !nv.IsIndex(index) {
		return NVPublic{}, fmt.Errorf("NV 0x%08x: %w: not an NV index", index, ErrNotFound)
	}
	return attestCall(c, ctx, fmt.Sprintf("NV 0x%08x", index), func(t transport.TPM) (NVPublic, error) {
		return nv.ReadPublic(t, index)
	})
}

// nvAccess runs op on the index want describes, authorised as auth
// picks, unless the index's auth value failed before.
func (c *Core) nvAccess(ctx context.Context, what string, want NVPublic, auth func(NVPublic) nv.Auth, op func(t transport.TPM, p NVPublic, a nv.Auth) error) error {
	_, err := attestCall(c, ctx, fmt.Sprintf("%s NV 0x%08x", what, want.Index), func(t transport.TPM) (struct{}, error) {
		p, err := nv.Open(t, want.Index, &want)
		if err != nil {
			return struct{}{}, err
		}
		a := auth(p)
		if a == nv.Index && c.nvAuth.failed(p) {
			return struct{}{}, fmt.Errorf("%w: its auth value is not empty (refused before; not asked again, to spare the dictionary-attack counter)", ErrAuth)
		}
		err = op(t, p, a)
		if a == nv.Index && !p.Attributes.NoDA && isAuthFailure(err) {
			c.nvAuth.note(p)
		}
		return struct{}{}, err
	})
	return err
}

func isAuthFailure(err error) bool {
	rc, ok := RC(err)
	return ok && (rc.Is(tpm2.TPMRCAuthFail) || rc.Is(tpm2.TPMRCBadAuth))
}

// NVRead returns the data of the index want describes: all of it, read
// in chunks (ErrNoData if it was never written).
func (c *Core) NVRead(ctx context.Context, want NVPublic, asOwner bool) ([]byte, error) {
	var out []byte
	err := c.nvAccess(ctx, "read", want, func(p NVPublic) nv.Auth { return p.ReadAuth(asOwner) },
		func(t transport.TPM, p NVPublic, a nv.Auth) (err error) {
			out, err = nv.Read(t, p, a, c.opts.OwnerAuth, c.nvBuffer)
			return err
		})
	return out, err
}

// NVWrite writes data at off into an ordinary index, in chunks.
func (c *Core) NVWrite(ctx context.Context, want NVPublic, asOwner bool, off int, data []byte) error {
	return c.nvAccess(ctx, "write", want, func(p NVPublic) nv.Auth { return p.WriteAuth(asOwner) },
		func(t transport.TPM, p NVPublic, a nv.Auth) error {
			return nv.Write(t, p, a, c.opts.OwnerAuth, off, data, c.nvBuffer)
		})
}

// NVIncrement increments a counter index.
func (c *Core) NVIncrement(ctx context.Context, want NVPublic, asOwner bool) error {
	return c.nvAccess(ctx, "increment", want, func(p NVPublic) nv.Auth { return p.WriteAuth(asOwner) },
		func(t transport.TPM, p NVPublic, a nv.Auth) error {
			return nv.Increment(t, p, a, c.opts.OwnerAuth)
		})
}

// NVExtend extends an extend index with data (at most NVBuffer bytes).
func (c *Core) NVExtend(ctx context.Context, want NVPublic, asOwner bool, data []byte) error {
	return c.nvAccess(ctx, "extend", want, func(p NVPublic) nv.Auth { return p.WriteAuth(asOwner) },
		func(t transport.TPM, p NVPublic, a nv.Auth) error {
			return nv.Extend(t, p, a, c.opts.OwnerAuth, data, c.nvBuffer)
		})
}

// NVSetBits ORs bits into a bit-field index.
func (c *Core) NVSetBits(ctx context.Context, want NVPublic, asOwner bool, bits uint64) error {
	return c.nvAccess(ctx, "set bits of", want, func(p NVPublic) nv.Auth { return p.WriteAuth(asOwner) },
		func(t transport.TPM, p NVPublic, a nv.Auth) error {
			return nv.SetBits(t, p, a, c.opts.OwnerAuth, bits)
		})
}

// NVDefine defines an ordinary index of size bytes (see
// nv.DefinedAttributes) with owner authorisation.
func (c *Core) NVDefine(ctx context.Context, index uint32, size int) error {
	_, err := attestCall(c, ctx, fmt.Sprintf("define NV 0x%08x", index), func(t transport.TPM) (struct{}, error) {
		return struct{}{}, nv.Define(t, c.opts.OwnerAuth, index, size)
	})
	return err
}

// NVUndefine undefines the index want describes, if the owner may:
// ErrNotAllowed for one the platform made or only its policy deletes.
func (c *Core) NVUndefine(ctx context.Context, want NVPublic) error {
	_, err := attestCall(c, ctx, fmt.Sprintf("undefine NV 0x%08x", want.Index), func(t transport.TPM) (struct{}, error) {
		p, err := nv.Open(t, want.Index, &want)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, nv.Undefine(t, c.opts.OwnerAuth, p)
	})
	return err
}
