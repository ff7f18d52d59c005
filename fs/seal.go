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

// sealDir is seal/: each subdirectory is a sealed object, kept by the
// vault. mkdir creates one, rmdir removes it with its files.
type sealDir struct {
	fixed
}

var _ = (gofs.NodeLookuper)((*sealDir)(nil))
var _ = (gofs.NodeReaddirer)((*sealDir)(nil))
var _ = (gofs.NodeMkdirer)((*sealDir)(nil))
var _ = (gofs.NodeRmdirer)((*sealDir)(nil))
var _ = (gofs.NodeUnlinker)((*sealDir)(nil))
var _ = (gofs.NodeRenamer)((*sealDir)(nil))
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

// Lookup finds an object by name; a damaged one too, so that it can be
// removed.
func (d *sealDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	info, err := d.root.objects.Lookup(name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, syscall.ENOENT
	}
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{"object": name})
	}
	if info.Damaged != nil {
		d.root.errno(ctx, info.Damaged, logrus.Fields{"object": name, "op": "lookup"})
	}
	return d.objectInode(ctx, info, out), 0
}

// objectInode returns the inode of the object info describes: one per
// object identity, numbered by the vault, so that a new object of an old
// name is a new inode and never shares the old one's open files.
func (d *sealDir) objectInode(ctx context.Context, info vault.Info, out *fuse.EntryOut) *gofs.Inode {
	obj := &objDir{root: d.root, ref: info.Ref}
	obj.noRemove.root = d.root
	obj.fillAttr(info, &out.Attr)
	return d.NewInode(ctx, obj, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: info.Ino})
}

func (d *sealDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, err := d.root.objects.List()
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
	if e := d.root.writable(ctx, fields); e != 0 {
		return nil, e
	}
	c, mode, gid := d.newObject(ctx, mode)
	info, err := d.root.objects.Create(c, name, mode, gid)
	if errors.Is(err, vault.ErrExists) {
		return nil, syscall.EEXIST
	}
	if err != nil {
		return nil, d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithFields(logrus.Fields{
		"uid": info.UID, "gid": info.GID, "mode": fmt.Sprintf("%#o", info.Mode),
	}).Info("sealed object created")
	return d.objectInode(ctx, info, out), 0
}

// newObject is who owns an object mkdir makes in d (seal/ or ak/), with
// what mode and group: the caller, with the mode mkdir asked for after
// the umask (the kernel applied it) and privateMask.
func (d *fixed) newObject(ctx context.Context, mode uint32) (c vault.Caller, objMode, gid uint32) {
	c = caller(ctx)
	mode &= privateMask
	gid = c.GID
	if d.mode&syscall.S_ISGID != 0 {
		// A setgid directory hands down its group and the setgid bit,
		// as a directory on disk does to a new subdirectory.
		gid = d.root.opts.GID
		mode |= syscall.S_ISGID
	}
	return c, mode, gid
}

// Rmdir removes the object with its files (they are its attributes, as in
// configfs, and cannot be removed one by one). The kernel has checked the
// caller's right: write access to seal/, and the sticky bit.
func (d *sealDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	fields := logrus.Fields{"object": name, "op": "rmdir"}
	if e := d.root.writable(ctx, fields); e != 0 {
		return e
	}
	err := d.root.objects.Remove(name)
	if errors.Is(err, vault.ErrNotFound) {
		return syscall.ENOENT
	}
	if err != nil {
		return d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithField("uid", caller(ctx).UID).Info("sealed object removed")
	return 0
}

// Unlink: seal/ holds only objects, which rmdir removes.
func (d *sealDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return (&noRemove{root: d.root}).Unlink(ctx, name)
}

// Rename: an object's name is bound to its ciphertext; it cannot move.
func (d *sealDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
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
