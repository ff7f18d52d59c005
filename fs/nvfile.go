package fs

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-tpm/tpm2"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
	"tpmfs/tpmcore/nv"
)

// nvFile is nv/0xHHHHHHHH: one NV index, held by its public area (an
// index undefined or redefined since is another file), or a name just
// created whose index truncate -s is to define.
type nvFile struct {
	gofs.Inode
	root *Root

	mu      sync.Mutex
	pub     tpmcore.NVPublic
	pending uint32 // the index of a created name not defined yet; 0 once defined
}

var _ = (gofs.NodeGetattrer)((*nvFile)(nil))
var _ = (gofs.NodeSetattrer)((*nvFile)(nil))
var _ = (gofs.NodeOpener)((*nvFile)(nil))

func (f *nvFile) set(pub tpmcore.NVPublic) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pub, f.pending = pub, 0
}

// same reports whether pub is still this file's index, and takes it as
// the current state (written, locked) if so.
func (f *nvFile) same(pub tpmcore.NVPublic) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending != 0 || !f.pub.Same(pub) {
		return false
	}
	f.pub = pub
	return true
}

func (f *nvFile) current() (tpmcore.NVPublic, uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pub, f.pending
}

func (f *nvFile) fields() logrus.Fields {
	pub, pending := f.current()
	if pending != 0 {
		return logrus.Fields{"nv": nvName(pending)}
	}
	return logrus.Fields{"nv": nvName(pub.Index)}
}

// nvMode derives a file's mode from the index's attributes: the owner
// bits stand for what owner authorisation or the index's empty auth
// value allow, the group and other bits for what the empty auth value
// alone allows (so an index only the owner may read is 0600), capped by
// nv_mode=.
func nvMode(pub tpmcore.NVPublic, limit uint32) uint32 {
	var m uint32
	if pub.ReadAuth(true) != nv.NoAuth {
		m |= 0o400
	}
	if pub.ReadAuth(false) != nv.NoAuth {
		m |= 0o044
	}
	if pub.WriteAuth(true) != nv.NoAuth {
		m |= 0o200
	}
	if pub.WriteAuth(false) != nv.NoAuth {
		m |= 0o022
	}
	return m & limit & 0o666
}

// nvSize is what stat shows: an ordinary index's size, else the size of
// its text.
func nvSize(pub tpmcore.NVPublic) uint64 {
	switch pub.Type() {
	case tpm2.TPMNTOrdinary:
		return uint64(pub.Size)
	case tpm2.TPMNTCounter:
		return 0 // a decimal of varying length
	}
	return uint64(2*pub.Size + 1)
}

func (f *nvFile) fillAttr(a *fuse.Attr) {
	pub, pending := f.current()
	a.Uid, a.Gid = f.root.opts.UID, f.root.opts.GID
	a.Nlink = 1
	f.root.fillTimes(a)
	if pending != 0 {
		a.Mode = syscall.S_IFREG | 0o600&f.root.opts.NVMode
		return
	}
	a.Mode = syscall.S_IFREG | nvMode(pub, f.root.opts.NVMode)
	a.Size = nvSize(pub)
}

// refresh reads the index's public area again: ESTALE once it is not
// this file's index any more.
func (f *nvFile) refresh(ctx context.Context) syscall.Errno {
	pub, pending := f.current()
	if pending != 0 {
		return 0
	}
	now, err := f.root.nv.NVPublic(tpmContext(ctx), pub.Index)
	if err == nil && !f.same(now) {
		err = fmt.Errorf("nv/%s: %w", nvName(pub.Index), tpmcore.ErrStale)
	}
	if err != nil {
		if errors.Is(err, tpmcore.ErrNotFound) {
			err = fmt.Errorf("nv/%s: %w: undefined", nvName(pub.Index), tpmcore.ErrStale)
		}
		return f.root.errno(ctx, err, f.fields())
	}
	return 0
}

func (f *nvFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if e := f.refresh(ctx); e != 0 {
		return e
	}
	f.fillAttr(&out.Attr)
	return 0
}

// Setattr: truncate -s SIZE on a created name defines the index; on an
// index, truncation to zero (a shell's >) or to its own size changes
// nothing and anything else is EPERM, as are chmod and chown.
func (f *nvFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fields := f.fields()
	r := f.root
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		fields["op"] = "chmod/chown"
		return r.errno(ctx, fmt.Errorf("nv: %w: an index's mode follows its attributes and nv_mode=", errFixed), fields)
	}
	if sz, ok := in.GetSize(); ok {
		fields["op"] = "truncate"
		if e := r.writable(ctx, fields); e != 0 {
			return e
		}
		pub, pending := f.current()
		switch {
		case pending != 0 && sz == 0:
			return r.errno(ctx, fmt.Errorf("nv/%s: %w: define an index with truncate -s SIZE", nvName(pending), errInvalid), fields)
		case pending != 0:
			if e := f.define(ctx, pending, sz); e != 0 {
				return e
			}
		case sz != 0 && (pub.Type() != tpm2.TPMNTOrdinary || sz != uint64(pub.Size)):
			return r.errno(ctx, fmt.Errorf("nv/%s: %w: an index's size is fixed when it is defined", nvName(pub.Index), errFixed), fields)
		}
	}
	return f.Getattr(ctx, fh, out)
}

// define defines the created name's index with size bytes.
func (f *nvFile) define(ctx context.Context, index uint32, size uint64) syscall.Errno {
	fields := logrus.Fields{"nv": nvName(index), "op": "define", "size": size}
	if size > 0xffff {
		return f.root.errno(ctx, fmt.Errorf("nv/%s: %w: %d bytes", nvName(index), errTooLarge, size), fields)
	}
	if err := f.root.nv.NVDefine(tpmContext(ctx), index, int(size)); err != nil {
		return f.root.errno(ctx, err, fields)
	}
	pub, err := f.root.nv.NVPublic(tpmContext(ctx), index)
	if err != nil {
		return f.root.errno(ctx, err, fields)
	}
	f.set(pub)
	f.root.log.WithFields(fields).WithField("uid", caller(ctx).UID).Info("NV index defined")
	return 0
}

// Open checks what the index allows: a write (or read) it allows nobody
// tpmfs can authorise is EPERM here, where shells see it.
func (f *nvFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	fields := f.fields()
	write := flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0
	read := flags&syscall.O_WRONLY == 0
	if write {
		fields["op"] = "open for writing"
		if e := f.root.writable(ctx, fields); e != 0 {
			return nil, 0, e
		}
	}
	if e := f.refresh(ctx); e != 0 {
		return nil, 0, e
	}
	pub, pending := f.current()
	if pending != 0 {
		return nil, 0, syscall.ENOENT // created, never defined, and closed
	}
	owner := f.root.isOwner(ctx)
	switch {
	case write && pub.WriteAuth(owner) == nv.NoAuth:
		return nil, 0, f.root.errno(ctx, fmt.Errorf("nv/%s: %w: the index allows no write with owner or empty auth%s", nvName(pub.Index), tpmcore.ErrNotAllowed, locked(pub)), fields)
	case read && pub.ReadAuth(owner) == nv.NoAuth:
		return nil, 0, f.root.errno(ctx, fmt.Errorf("nv/%s: %w: the index allows no read with owner or empty auth%s", nvName(pub.Index), tpmcore.ErrNotAllowed, locked(pub)), fields)
	}
	return &nvHandle{f: f, want: pub, write: write, owner: owner}, fuse.FOPEN_DIRECT_IO, 0
}

func locked(pub tpmcore.NVPublic) string {
	switch {
	case pub.Attributes.WriteLocked:
		return " (write-locked)"
	case pub.Attributes.ReadLocked:
		return " (read-locked)"
	}
	return ""
}

// nvHandle is an open index: reads see a snapshot taken at offset 0,
// writes go to the TPM at write(2) by the index's type: ordinary, the
// bytes at their offset; counter, one increment per write; extend, the
// bytes extended; bit field, hex ORed in.
type nvHandle struct {
	f     *nvFile
	want  tpmcore.NVPublic // the index as opened; zero for a created name until it is defined
	write bool
	owner bool

	mu   sync.Mutex
	snap []byte
}

var _ = (gofs.FileReader)((*nvHandle)(nil))
var _ = (gofs.FileWriter)((*nvHandle)(nil))
var _ = (gofs.FileReleaser)((*nvHandle)(nil))

// index is the index the handle works on: the one opened, or for a
// created name the one truncate defined.
func (h *nvHandle) index() (tpmcore.NVPublic, bool) {
	if h.want.Index != 0 {
		return h.want, true
	}
	pub, pending := h.f.current()
	if pending != 0 {
		return pub, false
	}
	h.want = pub
	return pub, true
}

func (h *nvHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pub, ok := h.index()
	if !ok {
		return fuse.ReadResultData(nil), 0
	}
	if off == 0 || h.snap == nil {
		b, err := h.f.root.nv.NVRead(tpmContext(ctx), pub, h.owner)
		if err != nil {
			fields := h.f.fields()
			fields["op"] = "read"
			return nil, h.f.root.errno(ctx, err, fields)
		}
		h.snap = formatNV(pub, b)
	}
	return readAt(h.snap, dest, off), 0
}

// formatNV renders an index's data as its file reads.
func formatNV(pub tpmcore.NVPublic, b []byte) []byte {
	switch pub.Type() {
	case tpm2.TPMNTOrdinary:
		return b
	case tpm2.TPMNTCounter:
		if len(b) == 8 {
			return []byte(strconv.FormatUint(binary.BigEndian.Uint64(b), 10) + "\n")
		}
	}
	return []byte(hex.EncodeToString(b) + "\n")
}

func (h *nvHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.f.root
	fields := h.f.fields()
	fields["op"] = "write"
	if !h.write {
		return 0, syscall.EBADF
	}
	pub, ok := h.index()
	if !ok {
		return 0, r.errno(ctx, fmt.Errorf("nv: %w: define the index first, with truncate -s SIZE", errFixed), fields)
	}
	h.snap = nil
	ctx2 := tpmContext(ctx)
	var err error
	switch pub.Type() {
	case tpm2.TPMNTOrdinary:
		if off < 0 || off+int64(len(data)) > int64(pub.Size) {
			err = fmt.Errorf("nv/%s: %w: %d bytes at %d, the index holds %d", nvName(pub.Index), errTooLarge, len(data), off, pub.Size)
		} else {
			err = r.nv.NVWrite(ctx2, pub, h.owner, int(off), data)
		}
	case tpm2.TPMNTCounter:
		err = r.nv.NVIncrement(ctx2, pub, h.owner)
	case tpm2.TPMNTExtend:
		err = r.nv.NVExtend(ctx2, pub, h.owner, data)
	case tpm2.TPMNTBits:
		var bits uint64
		if bits, err = parseBits(string(data)); err == nil {
			err = r.nv.NVSetBits(ctx2, pub, h.owner, bits)
		}
	default:
		err = fmt.Errorf("nv/%s: %w: a PIN index is not written through nv/", nvName(pub.Index), errFixed)
	}
	if err != nil {
		return 0, r.errno(ctx, err, fields)
	}
	return uint32(len(data)), 0
}

// parseBits reads the bits a bit field's write ORs in: hex of up to 64
// bits, optional 0x, surrounding space ignored.
func parseBits(s string) (uint64, error) {
	t := strings.Trim(s, digestSpace)
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		t = t[2:]
	}
	v, err := strconv.ParseUint(t, 16, 64)
	if err != nil || t == "" || t[0] == '+' {
		return 0, fmt.Errorf("%w: bits %q: want hex, at most 16 digits", errInvalid, clip(t))
	}
	return v, nil
}

// Release forgets a created name that was never defined, so that it is
// not listed or found.
func (h *nvHandle) Release(ctx context.Context) syscall.Errno {
	if _, pending := h.f.current(); pending != 0 {
		if name, parent := h.f.Parent(); parent != nil {
			parent.RmChild(name)
		}
	}
	return 0
}
