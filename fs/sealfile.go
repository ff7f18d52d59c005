package fs

import (
	"context"
	"encoding/hex"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/sealstore"
)

// objFile is one of seal/NAME/{data,pcrs,policy}.
type objFile struct {
	gofs.Inode
	obj  *objDir
	kind objKind

	mu      sync.Mutex
	writers map[*objHandle]bool // open for writing, for O_TRUNC
}

var _ = (gofs.NodeGetattrer)((*objFile)(nil))
var _ = (gofs.NodeSetattrer)((*objFile)(nil))
var _ = (gofs.NodeOpener)((*objFile)(nil))

// aeadOverhead is what the envelope adds to a secret (the GCM tag), so
// that stat shows the secret's own size without unsealing it.
const aeadOverhead = 16

func (f *objFile) fields() logrus.Fields {
	return logrus.Fields{"object": f.obj.name, "file": f.kind.name()}
}

func (f *objFile) fillAttr(rec *sealstore.Record, a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | f.kind.mode(rec.Mode)
	a.Uid, a.Gid = rec.UID, rec.GID
	a.Nlink = 1
	switch f.kind {
	case kindData:
		if rec.Sealed != nil && len(rec.Sealed.Ciphertext) >= aeadOverhead {
			a.Size = uint64(len(rec.Sealed.Ciphertext) - aeadOverhead)
		}
	case kindPCRs:
		a.Size = uint64(len(selectionText(rec)))
	case kindPolicy:
		a.Size = uint64(len(policyText(rec)))
	}
	fillRecordTimes(rec, a)
}

func selectionText(rec *sealstore.Record) string {
	if rec.Selection == "" {
		return ""
	}
	return rec.Selection + "\n"
}

func policyText(rec *sealstore.Record) string {
	if rec.Sealed == nil || len(rec.Sealed.Policy) == 0 {
		return ""
	}
	return hex.EncodeToString(rec.Sealed.Policy) + "\n"
}

func (f *objFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	rec, e := f.obj.load(ctx)
	if e != 0 {
		return e
	}
	f.fillAttr(rec, &out.Attr)
	return 0
}

// Setattr: truncation to zero empties what open writers will write. The
// kernel sends open(O_TRUNC)'s truncation after the open and without the
// file handle, so it applies to every writer that has not written yet;
// with no writer open (truncate -s 0) the object is emptied at once.
// Modes belong to the object directory.
func (f *objFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		f.obj.root.log.WithFields(f.fields()).Info("chmod/chown refused on a file of a sealed object; change the object directory instead")
		return syscall.EPERM
	}
	if sz, ok := in.GetSize(); ok {
		if sz != 0 || f.kind == kindPolicy {
			return syscall.EINVAL
		}
		if h, isOurs := fh.(*objHandle); isOurs && h.writable {
			h.truncate()
		} else if n := f.truncateWriters(); n == 0 {
			h := &objHandle{f: f, writable: true, loaded: true, dirty: true}
			if e := h.apply(ctx); e != 0 {
				return e
			}
		}
	}
	return f.Getattr(ctx, fh, out)
}

func (f *objFile) truncateWriters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for h := range f.writers {
		if h.truncateIfFresh() {
			n++
		}
	}
	return n
}

func (f *objFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h := &objHandle{f: f}
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		if f.obj.root.opts.ReadOnly {
			return nil, 0, f.obj.root.errno(ctx, errReadOnly, f.fields())
		}
		if f.kind == kindPolicy {
			return nil, 0, syscall.EACCES
		}
		h.writable = true
		f.mu.Lock()
		if f.writers == nil {
			f.writers = map[*objHandle]bool{}
		}
		f.writers[h] = true
		f.mu.Unlock()
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}
