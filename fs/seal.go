package fs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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
var _ = (gofs.NodeSetattrer)((*sealDir)(nil))

func (d *sealDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

// Setattr refuses chmod and chown (seal_mode=, uid=, gid= set them) and
// answers anything else, such as touch, with the directory's attributes.
func (d *sealDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := d.root.refuseOwnerMode(ctx, &d.Inode, in, d.option, d.mode); e != 0 {
		return e
	}
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
	return d.NewInode(ctx, obj, objectAttr(name)), 0
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

// privateMask is what mkdir keeps of the mode it asks for: the owner's
// bits and the special ones. A sealed object starts private whatever the
// umask (022 would make every secret readable by all, as a 0644 file);
// its owner shares it on purpose with chmod, as pass(1) does with its
// umask 077.
const privateMask = 0o7700

// Mkdir creates a sealed object owned by the caller, with the mode mkdir
// asked for after the umask (the kernel applied it) and privateMask.
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
	rec := &sealstore.Record{Name: name, UID: caller.Uid, GID: caller.Gid, Mode: mode & privateMask}
	if d.mode&syscall.S_ISGID != 0 {
		// A setgid seal/ hands down its group and the setgid bit, as a
		// directory on disk does to a new subdirectory.
		rec.GID = d.root.opts.GID
		rec.Mode |= syscall.S_ISGID
	}
	if err := d.root.store.Save(rec); err != nil {
		return nil, d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithFields(logrus.Fields{
		"uid": rec.UID, "gid": rec.GID, "mode": fmt.Sprintf("%#o", rec.Mode),
	}).Info("sealed object created")
	obj := &objDir{root: d.root, name: name}
	obj.fillAttr(rec, &out.Attr)
	return d.NewInode(ctx, obj, objectAttr(name)), 0
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

// objectAttr gives an object a stable inode number derived from its name,
// so that every lookup of seal/NAME finds the same inode (and its open
// files) rather than a new one each time the kernel's entry expires.
func objectAttr(name string) gofs.StableAttr {
	h := fnv.New64a()
	h.Write([]byte(name))
	// Below 2^63, where go-fuse's automatic numbers start; never 0 or 1.
	return gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: h.Sum64()&(1<<63-1) | 2}
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
