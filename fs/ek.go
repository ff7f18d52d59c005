package fs

import (
	"context"
	"fmt"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
)

// ekDir is ek/: for each EK certificate the TPM holds in NV, NAME.crt
// (the NV bytes, DER) and NAME.pub.pem (the key the profile's template
// re-creates). The set is read at start and fixed; the files' mode is
// ek_mode=, the directory's the same with search added where read is.
type ekDir struct {
	gofs.Inode
	noRemove
	root *Root
}

var _ = (gofs.NodeGetattrer)((*ekDir)(nil))
var _ = (gofs.NodeSetattrer)((*ekDir)(nil))
var _ = (gofs.NodeLookuper)((*ekDir)(nil))

// searchable adds x where mode has r: the mode of a directory whose
// files have mode.
func searchable(mode uint32) uint32 { return mode | (mode&0o444)>>2 }

func (r *Root) newEKDir(ctx context.Context) *gofs.Inode {
	d := &ekDir{root: r, noRemove: noRemove{r}}
	dir := r.NewPersistentInode(ctx, d, gofs.StableAttr{Mode: syscall.S_IFDIR})
	for _, c := range r.ek.EKCerts() {
		cert := &ekFile{fixed: r.fixed(r.opts.EKMode, "ek_mode"), cert: c}
		cert.size = uint64(c.Size)
		dir.AddChild(c.Name+".crt", r.NewPersistentInode(ctx, cert, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
		pub := &ekFile{fixed: r.fixed(r.opts.EKMode, "ek_mode"), cert: c, public: true}
		dir.AddChild(c.Name+".pub.pem", r.NewPersistentInode(ctx, pub, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	}
	return dir
}

func (d *ekDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, searchable(d.root.opts.EKMode))
	return 0
}

func (d *ekDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	mode := searchable(d.root.opts.EKMode)
	if e := d.root.refuseOwnerMode(ctx, &d.Inode, in, "ek_mode", mode); e != 0 {
		return e
	}
	d.root.fillDirAttr(&out.Attr, mode)
	return 0
}

func (d *ekDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return lookupFixed(ctx, &d.Inode, name, out)
}

// ekFile is NAME.crt or NAME.pub.pem. Both never change while mounted:
// the first open reads them from the TPM, later ones from memory.
type ekFile struct {
	fixed
	cert   tpmcore.EKCert
	public bool

	mu      sync.Mutex
	content []byte
}

var _ = (gofs.NodeOpener)((*ekFile)(nil))
var _ = (gofs.NodeReader)((*ekFile)(nil))
var _ = (gofs.NodeGetattrer)((*ekFile)(nil))

func (f *ekFile) fields() logrus.Fields {
	return logrus.Fields{"ek": f.cert.Name, "index": fmt.Sprintf("0x%08x", f.cert.Index), "public": f.public}
}

func (f *ekFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.mu.Lock()
	if f.content != nil {
		f.size = uint64(len(f.content))
	}
	f.mu.Unlock()
	f.fillAttr(&out.Attr)
	return 0
}

func (f *ekFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	fields := f.fields()
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		fields["op"] = "open for writing"
		if e := f.root.writable(ctx, fields); e != 0 {
			return nil, 0, e
		}
		return nil, 0, f.root.errno(ctx, fmt.Errorf("ek/%s: %w", f.cert.Name, errNotWritable), fields)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.content == nil {
		var b []byte
		var err error
		if f.public {
			b, err = f.root.ek.EKPublic(tpmContext(ctx), f.cert.Index)
		} else {
			b, err = f.root.ek.EKCertificate(tpmContext(ctx), f.cert.Index)
		}
		if err != nil {
			fields["op"] = "open"
			return nil, 0, f.root.errno(ctx, err, fields)
		}
		f.content = b
		f.size = uint64(len(b))
	}
	// Direct I/O: the size the kernel has may be from before the first
	// open (a public key's is not known until then).
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *ekFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return readAt(f.content, dest, off), 0
}
