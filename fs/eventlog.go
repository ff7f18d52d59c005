package fs

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/measurelog"
)

// eventlogDir is eventlog/: tpmfs's own log, the kernel's logs that
// exist, and verify. Its files read only; log_mode= sets their mode.
type eventlogDir struct {
	gofs.Inode
	noRemove
	root *Root
}

var _ = (gofs.NodeGetattrer)((*eventlogDir)(nil))
var _ = (gofs.NodeLookuper)((*eventlogDir)(nil))
var _ = (gofs.NodeSetattrer)((*eventlogDir)(nil))

func (r *Root) newEventlogDir(ctx context.Context) *gofs.Inode {
	dir := r.NewPersistentInode(ctx, &eventlogDir{root: r, noRemove: noRemove{r}}, gofs.StableAttr{Mode: syscall.S_IFDIR})
	names := append([]string{measurelog.TPMFS}, r.logs.Kernel()...)
	for _, name := range names {
		f := &logFile{fixed: r.fixed(r.opts.LogMode, "log_mode"), name: name}
		dir.AddChild(name, r.NewPersistentInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	}
	v := &verifyFile{fixed: r.fixed(r.opts.LogMode, "log_mode")}
	dir.AddChild("verify", r.NewPersistentInode(ctx, v, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	return dir
}

func (d *eventlogDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, dirMode)
	out.SetTimeout(fixedTimeout)
	return 0
}

// Lookup: the entries never change, but the files' sizes do (a log
// grows), so their attributes are not cached.
func (d *eventlogDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ch, e := lookupFixed(ctx, &d.Inode, name, out)
	if e == 0 {
		out.SetAttrTimeout(0)
	}
	return ch, e
}

func (d *eventlogDir) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := d.root.refuseOwnerMode(ctx, &d.Inode, in, "", dirMode); e != 0 {
		return e
	}
	d.root.fillDirAttr(&out.Attr, dirMode)
	return 0
}

// refuseWrite refuses to open a log for writing: they only read.
func (r *Root) refuseWrite(ctx context.Context, name string, flags uint32) syscall.Errno {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) == 0 {
		return 0
	}
	return r.errno(ctx, fmt.Errorf("open eventlog/%s for writing: %w", name, errNotWritable), logrus.Fields{"op": "open", "log": name})
}

// logFile is one log. Each open is a snapshot of the log as it was then,
// which reads to its end however the log grows, and whose size lseek
// (SEEK_END) and fstat report: tools that take the size first
// (tpm2_eventlog) read a whole log. Without an open file, stat reports
// the log's size now. The kernel keeps one size per inode, though: of
// several opens of a growing log, each reads its own snapshot to its
// end, but a size asked for by one may be answered, for a few
// milliseconds, with another's; and for a stat (not an lseek) go-fuse
// is not told the open file and takes the first one's.
type logFile struct {
	fixed
	name string
}

var _ = (gofs.NodeOpener)((*logFile)(nil))
var _ = (gofs.NodeGetattrer)((*logFile)(nil))

func (f *logFile) fields() logrus.Fields { return logrus.Fields{"log": f.name} }

func (f *logFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if e := f.root.refuseWrite(ctx, f.name, flags); e != 0 {
		return nil, 0, e
	}
	snap, err := f.root.logs.Open(tpmContext(ctx), f.name)
	if err != nil {
		return nil, 0, f.root.errno(ctx, err, f.fields())
	}
	// The kernel keeps one size per inode, valid until the next tick
	// even with no attribute timeout: drop it, so that this open's first
	// lseek(SEEK_END) or fstat asks for its own snapshot's.
	f.NotifyContent(-1, 0)
	// Direct I/O: two opens may see different snapshots, which a page
	// cache shared by the inode would mix.
	return &snapHandle{snap: snap}, fuse.FOPEN_DIRECT_IO, 0
}

func (f *logFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.fillAttr(&out.Attr)
	if h, ok := fh.(*snapHandle); ok {
		out.Size = uint64(h.snap.Size())
	} else if size, err := f.root.logs.Size(f.name); err == nil {
		out.Size = uint64(size)
	}
	out.SetTimeout(0)
	return 0
}

// snapHandle is one open log: a snapshot read until released.
type snapHandle struct {
	snap measurelog.Snapshot
	once sync.Once
}

var _ = (gofs.FileReader)((*snapHandle)(nil))
var _ = (gofs.FileReleaser)((*snapHandle)(nil))

func (h *snapHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.snap.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *snapHandle) Release(ctx context.Context) syscall.Errno {
	h.once.Do(func() { h.snap.Close() })
	return 0
}

// verifyFile renders, at each open, the replay of the logs against the
// PCRs (measurelog's Verify).
type verifyFile struct {
	fixed
}

var _ = (gofs.NodeOpener)((*verifyFile)(nil))
var _ = (gofs.NodeGetattrer)((*verifyFile)(nil))

func (f *verifyFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if e := f.root.refuseWrite(ctx, "verify", flags); e != 0 {
		return nil, 0, e
	}
	out, err := f.root.logs.Verify(tpmContext(ctx))
	if err != nil {
		return nil, 0, f.root.errno(ctx, err, logrus.Fields{"op": "verify"})
	}
	return &snapHandle{snap: bytesSnapshot(out)}, fuse.FOPEN_DIRECT_IO, 0
}

// Getattr: the size of an open's report; 0 without one (computing it
// costs a read of every PCR).
func (f *verifyFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.fillAttr(&out.Attr)
	if h, ok := fh.(*snapHandle); ok {
		out.Size = uint64(h.snap.Size())
	}
	out.SetTimeout(0)
	return 0
}

// bytesSnapshot is a report as a snapshot.
type bytesSnapshot []byte

func (b bytesSnapshot) Size() int64  { return int64(len(b)) }
func (b bytesSnapshot) Close() error { return nil }
func (b bytesSnapshot) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(b)) {
		return 0, io.EOF
	}
	return copy(p, b[off:]), nil
}
