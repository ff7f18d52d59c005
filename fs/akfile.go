package fs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/vault"
)

// akFile is one of ak/NAME/'s files: its owner and mode follow the
// key's.
type akFile struct {
	gofs.Inode
	key  *akKeyDir
	part akPart
}

var _ = (gofs.NodeGetattrer)((*akFile)(nil))
var _ = (gofs.NodeSetattrer)((*akFile)(nil))
var _ = (gofs.NodeOpener)((*akFile)(nil))

func (f *akFile) fields() logrus.Fields {
	return logrus.Fields{"ak": f.key.name, "file": f.part.String()}
}

// content is what a public part or type reads as, for info.
func (f *akFile) content(info vault.AKInfo) []byte {
	if f.part == akType {
		return []byte(info.Type + "\n")
	}
	if info.Public == nil {
		return nil
	}
	switch f.part {
	case akPEM:
		return info.Public.PEM
	case akTPM2B:
		return info.Public.TPM2B
	case akName:
		return []byte(info.Public.Name + "\n")
	}
	return nil
}

func (f *akFile) fillAttr(info vault.AKInfo, a *fuse.Attr) {
	objectAttr(a, info.Info, syscall.S_IFREG|f.part.mode(info.Mode), int64(len(f.content(info))))
}

func (f *akFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	info, e := f.key.stat(ctx)
	if e != 0 {
		return e
	}
	f.fillAttr(info, &out.Attr)
	return 0
}

// Setattr accepts a truncation to zero (a shell's >) of the files that
// take writes, and refuses chmod and chown: the key's directory has
// them.
func (f *akFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fields := f.fields()
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		fields["op"] = "chmod/chown"
		return f.key.root.errno(ctx, fmt.Errorf("chmod/chown %s: %w: change the key's directory instead", f.part, errFixed), fields)
	}
	if sz, ok := in.GetSize(); ok {
		fields["op"] = "truncate"
		if e := f.key.root.writable(ctx, fields); e != 0 {
			return e
		}
		if sz != 0 || f.part <= akName {
			return f.key.root.errno(ctx, fmt.Errorf("truncate %s to %d: %w", f.part, sz, errInvalid), fields)
		}
	}
	return f.Getattr(ctx, fh, out)
}

// Open: a public part is read whole at open (the key is made here on
// first use); type is read or written (a new type, before first use);
// quote and activate open a transaction of their own.
func (f *akFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	r := f.key.root
	fields := f.fields()
	write := flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0
	if write {
		fields["op"] = "open for writing"
		if e := r.writable(ctx, fields); e != 0 {
			return nil, 0, e
		}
	}
	switch f.part {
	case akQuote, akActivate:
		return &akTxn{f: f}, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NONSEEKABLE, 0
	case akType:
		info, e := f.key.stat(ctx)
		if e != 0 {
			return nil, 0, e
		}
		return &akTypeHandle{f: f, current: f.content(info), write: write}, fuse.FOPEN_DIRECT_IO, 0
	}
	if write {
		return nil, 0, r.errno(ctx, fmt.Errorf("ak/%s/%s: %w", f.key.name, f.part, errNotWritable), fields)
	}
	fields["op"] = "open"
	pub, err := r.aks.Public(tpmContext(ctx), f.key.ref)
	if err != nil {
		return nil, 0, r.errno(ctx, err, fields)
	}
	return &akPublicHandle{b: f.content(vault.AKInfo{Public: pub})}, fuse.FOPEN_DIRECT_IO, 0
}

// akPublicHandle reads a public part as it was at open.
type akPublicHandle struct{ b []byte }

var _ = (gofs.FileReader)((*akPublicHandle)(nil))

func (h *akPublicHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return readAt(h.b, dest, off), 0
}

// akTypeHandle reads the key's type and takes a new one: one line,
// applied when it is complete (at write(2), where echo sees an error)
// or at close.
type akTypeHandle struct {
	f       *akFile
	current []byte
	write   bool

	mu  sync.Mutex
	buf []byte
}

var _ = (gofs.FileReader)((*akTypeHandle)(nil))
var _ = (gofs.FileWriter)((*akTypeHandle)(nil))
var _ = (gofs.FileFlusher)((*akTypeHandle)(nil))

// maxTypeWrite bounds what a type write holds: "ecc" or "rsa" and a
// newline.
const maxTypeWrite = 64

func (h *akTypeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return readAt(h.current, dest, off), 0
}

func (h *akTypeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.write {
		return 0, syscall.EBADF
	}
	if len(h.buf)+len(data) > maxTypeWrite {
		h.buf = nil
		return 0, h.f.key.root.errno(ctx, fmt.Errorf("ak/%s/type: %w: write ecc or rsa", h.f.key.name, errInvalid), h.f.fields())
	}
	h.buf = append(h.buf, data...)
	if !strings.Contains(string(h.buf), "\n") {
		return uint32(len(data)), 0
	}
	if e := h.apply(ctx); e != 0 {
		return 0, e
	}
	return uint32(len(data)), 0
}

// apply sets the type written.
func (h *akTypeHandle) apply(ctx context.Context) syscall.Errno {
	typ := strings.TrimSpace(string(h.buf))
	h.buf = nil
	fields := h.f.fields()
	fields["op"] = "set type"
	if strings.ContainsAny(typ, " \t\r\n") {
		return h.f.key.root.errno(ctx, fmt.Errorf("ak/%s/type: %w: one word, ecc or rsa", h.f.key.name, errInvalid), fields)
	}
	if err := h.f.key.root.aks.SetType(h.f.key.ref, typ); err != nil {
		return h.f.key.root.errno(ctx, err, fields)
	}
	h.current = []byte(typ + "\n")
	return 0
}

// Flush applies a type written without a newline (printf rsa > type).
func (h *akTypeHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.buf) == 0 {
		return 0
	}
	return h.apply(ctx)
}
