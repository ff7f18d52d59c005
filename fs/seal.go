package fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/sealstore"
)

// sealDir is seal/: each subdirectory is a sealed object kept in the
// state directory. mkdir creates one, rmdir (rm -r) removes it.
type sealDir struct {
	fixed
}

var _ = (gofs.NodeLookuper)((*sealDir)(nil))
var _ = (gofs.NodeReaddirer)((*sealDir)(nil))
var _ = (gofs.NodeMkdirer)((*sealDir)(nil))
var _ = (gofs.NodeRmdirer)((*sealDir)(nil))
var _ = (gofs.NodeGetattrer)((*sealDir)(nil))

func (d *sealDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

func (d *sealDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if sealstore.ValidName(name) != nil {
		return nil, syscall.ENOENT
	}
	rec, err := d.root.store.Load(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, syscall.ENOENT
		}
		return nil, d.root.errno(ctx, err, logrus.Fields{"object": name})
	}
	obj := &objDir{root: d.root, name: name}
	obj.fillAttr(rec, &out.Attr)
	return d.NewInode(ctx, obj, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (d *sealDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, err := d.root.store.List()
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{"op": "list sealed objects"})
	}
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		entries = append(entries, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR})
	}
	return gofs.NewListDirStream(entries), 0
}

// Mkdir creates a sealed object owned by the caller, with the mode mkdir
// asked for (the kernel applied the umask already).
func (d *sealDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	fields := logrus.Fields{"object": name, "op": "mkdir"}
	if d.root.opts.ReadOnly {
		return nil, d.root.errno(ctx, errReadOnly, fields)
	}
	if err := sealstore.ValidName(name); err != nil {
		return nil, d.root.errno(ctx, fmt.Errorf("%w: %w", errInvalid, err), fields)
	}
	unlock := d.root.lockObject(name)
	defer unlock()
	if d.root.store.Exists(name) {
		return nil, syscall.EEXIST
	}
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return nil, syscall.EIO
	}
	rec := &sealstore.Record{Name: name, UID: caller.Uid, GID: caller.Gid, Mode: mode & 0o7777}
	if d.mode&syscall.S_ISGID != 0 {
		rec.GID = d.root.opts.GID // a setgid seal/ hands its group down, as on disk
	}
	if err := d.root.store.Save(rec); err != nil {
		return nil, d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithField("uid", rec.UID).Info("sealed object created")
	obj := &objDir{root: d.root, name: name}
	obj.fillAttr(rec, &out.Attr)
	return d.NewInode(ctx, obj, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// Rmdir removes the object with whatever it holds: rm -r unlinks the
// files first, which leaves them in place (they are the object's parts).
func (d *sealDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	fields := logrus.Fields{"object": name, "op": "rmdir"}
	if d.root.opts.ReadOnly {
		return d.root.errno(ctx, errReadOnly, fields)
	}
	unlock := d.root.lockObject(name)
	defer unlock()
	if !d.root.store.Exists(name) {
		return syscall.ENOENT
	}
	if err := d.root.store.Remove(name); err != nil {
		return d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).Info("sealed object removed")
	return 0
}

// objectLocks serialises changes to one object (write data, reseal,
// chmod) so each is a whole load-modify-save.
type objectLocks struct {
	mu    sync.Mutex
	locks map[string]*objectLock
}

type objectLock struct {
	sync.Mutex
	users int
}

func (r *Root) lockObject(name string) (unlock func()) {
	r.objLocks.mu.Lock()
	if r.objLocks.locks == nil {
		r.objLocks.locks = map[string]*objectLock{}
	}
	l := r.objLocks.locks[name]
	if l == nil {
		l = &objectLock{}
		r.objLocks.locks[name] = l
	}
	l.users++
	r.objLocks.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		r.objLocks.mu.Lock()
		if l.users--; l.users == 0 {
			delete(r.objLocks.locks, name)
		}
		r.objLocks.mu.Unlock()
	}
}
