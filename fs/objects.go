package fs

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/vault"
)

// namespace is the vault's side of a directory of users' objects: sealed
// objects (seal/, vault.Vault) or attestation keys (ak/, vault.AKs).
type namespace[I any] interface {
	List() ([]string, error)
	Lookup(name string) (I, error)
	Create(c vault.Caller, name string, mode, gid uint32) (I, error)
	Remove(name string) error
}

// objectsDir is seal/ or ak/: each subdirectory is an object of its
// owner's, kept by the vault. mkdir creates one, private to its creator;
// rmdir removes it with its files, which cannot be removed one by one (as
// in configfs); nothing in it can be renamed.
type objectsDir[I any] struct {
	fixed
	what  string // "sealed object", "attestation key": for the log
	field string // the log field that names one
	ns    namespace[I]
	base  func(I) vault.Info
	// node makes the directory node of one object, and fills its
	// attributes.
	node func(I, *fuse.Attr) gofs.InodeEmbedder
}

type (
	sealDir = objectsDir[vault.Info]
	akDir   = objectsDir[vault.AKInfo]
)

func (r *Root) newSealDir() *sealDir {
	return &sealDir{
		fixed: r.fixed(r.opts.SealMode, "seal_mode"), what: "sealed object", field: "object", ns: r.objects,
		base: func(i vault.Info) vault.Info { return i },
		node: func(i vault.Info, a *fuse.Attr) gofs.InodeEmbedder {
			obj := &objDir{root: r, ref: i.Ref}
			obj.noRemove.root = r
			obj.fillAttr(i, a)
			return obj
		},
	}
}

func (r *Root) newAKDir() *akDir {
	return &akDir{
		fixed: r.fixed(r.opts.AKMode, "ak_mode"), what: "attestation key", field: "ak", ns: r.aks,
		base: func(i vault.AKInfo) vault.Info { return i.Info },
		node: func(i vault.AKInfo, a *fuse.Attr) gofs.InodeEmbedder {
			k := &akKeyDir{root: r, ref: i.Ref, name: i.Name()}
			k.noRemove.root = r
			k.fillAttr(i, a)
			return k
		},
	}
}

var _ = (gofs.NodeLookuper)((*sealDir)(nil))
var _ = (gofs.NodeReaddirer)((*sealDir)(nil))
var _ = (gofs.NodeMkdirer)((*sealDir)(nil))
var _ = (gofs.NodeRmdirer)((*sealDir)(nil))
var _ = (gofs.NodeUnlinker)((*sealDir)(nil))
var _ = (gofs.NodeRenamer)((*sealDir)(nil))
var _ = (gofs.NodeGetattrer)((*sealDir)(nil))
var _ = (gofs.NodeSetattrer)((*sealDir)(nil))

func (d *objectsDir[I]) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

// Setattr refuses chmod and chown (the mode option, uid=, gid= set them)
// and answers anything else, such as touch, with the directory's
// attributes.
func (d *objectsDir[I]) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := d.root.refuseOwnerMode(ctx, &d.Inode, in, d.option, d.mode); e != 0 {
		return e
	}
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

// Lookup finds an object by name; a damaged one too, so that it can be
// removed.
func (d *objectsDir[I]) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	info, err := d.ns.Lookup(name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, syscall.ENOENT
	}
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{d.field: name})
	}
	if dmg := d.base(info).Damaged; dmg != nil {
		d.root.errno(ctx, dmg, logrus.Fields{d.field: name, "op": "lookup"})
	}
	return d.inode(ctx, info, out), 0
}

// inode returns the inode of the object info describes: one per object
// identity, numbered by the vault, so that a new object of an old name is
// a new inode and never shares the old one's open files.
func (d *objectsDir[I]) inode(ctx context.Context, info I, out *fuse.EntryOut) *gofs.Inode {
	return d.NewInode(ctx, d.node(info, &out.Attr), gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: d.base(info).Ino})
}

func (d *objectsDir[I]) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, err := d.ns.List()
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{"op": "list " + d.what + "s"})
	}
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		entries = append(entries, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR})
	}
	return gofs.NewListDirStream(entries), 0
}

// privateMask is what mkdir keeps of the mode it asks for: the owner's
// bits and the special ones. An object starts private whatever the umask
// (022 would make every secret readable by all, as a 0644 file); its
// owner shares it on purpose with chmod, as pass(1) does with its umask
// 077.
const privateMask = 0o7700

// Mkdir creates an object owned by the caller, with the mode mkdir asked
// for after the umask (the kernel applied it) and privateMask. A setgid
// directory hands down its group and the setgid bit, as a directory on
// disk does to a new subdirectory.
func (d *objectsDir[I]) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	fields := logrus.Fields{d.field: name, "op": "mkdir"}
	if e := d.root.writable(ctx, fields); e != 0 {
		return nil, e
	}
	c := caller(ctx)
	mode &= privateMask
	gid := c.GID
	if d.mode&syscall.S_ISGID != 0 {
		gid = d.root.opts.GID
		mode |= syscall.S_ISGID
	}
	info, err := d.ns.Create(c, name, mode, gid)
	if errors.Is(err, vault.ErrExists) {
		return nil, syscall.EEXIST
	}
	if err != nil {
		return nil, d.root.errno(ctx, err, fields)
	}
	b := d.base(info)
	d.root.log.WithFields(fields).WithFields(logrus.Fields{
		"uid": b.UID, "gid": b.GID, "mode": fmt.Sprintf("%#o", b.Mode),
	}).Info(d.what + " created")
	return d.inode(ctx, info, out), 0
}

// Rmdir removes the object with its files. The kernel has checked the
// caller's right: write access to the directory, and the sticky bit.
func (d *objectsDir[I]) Rmdir(ctx context.Context, name string) syscall.Errno {
	fields := logrus.Fields{d.field: name, "op": "rmdir"}
	if e := d.root.writable(ctx, fields); e != 0 {
		return e
	}
	err := d.ns.Remove(name)
	if errors.Is(err, vault.ErrNotFound) {
		return syscall.ENOENT
	}
	if err != nil {
		return d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithField("uid", caller(ctx).UID).Info(d.what + " removed")
	return 0
}

// Unlink: the directory holds only objects, which rmdir removes.
func (d *objectsDir[I]) Unlink(ctx context.Context, name string) syscall.Errno {
	return (&noRemove{root: d.root}).Unlink(ctx, name)
}

// Rename: an object's name is bound to its state (the ciphertext of a
// sealed object); it cannot move.
func (d *objectsDir[I]) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return (&noRemove{root: d.root}).Rename(ctx, name, newParent, newName, flags)
}

// caller is who makes a FUSE request.
func caller(ctx context.Context) vault.Caller {
	if c, ok := fuse.FromContext(ctx); ok {
		return vault.Caller{UID: c.Uid, GID: c.Gid}
	}
	// Requests always carry their caller; count an unknown one as
	// nobody, never as root.
	return vault.Caller{UID: 65534, GID: 65534}
}
