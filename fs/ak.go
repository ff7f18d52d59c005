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

// akDir is ak/: each subdirectory is an attestation key, kept by the
// vault beside the sealed objects and by the same rules (owner, private
// mode, identity, quota). mkdir creates one, rmdir removes it.
type akDir struct {
	fixed
}

var _ = (gofs.NodeLookuper)((*akDir)(nil))
var _ = (gofs.NodeReaddirer)((*akDir)(nil))
var _ = (gofs.NodeMkdirer)((*akDir)(nil))
var _ = (gofs.NodeRmdirer)((*akDir)(nil))
var _ = (gofs.NodeUnlinker)((*akDir)(nil))
var _ = (gofs.NodeRenamer)((*akDir)(nil))
var _ = (gofs.NodeGetattrer)((*akDir)(nil))
var _ = (gofs.NodeSetattrer)((*akDir)(nil))

func (d *akDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

// Setattr refuses chmod and chown (ak_mode=, uid=, gid= set them).
func (d *akDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := d.root.refuseOwnerMode(ctx, &d.Inode, in, d.option, d.mode); e != 0 {
		return e
	}
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

func (d *akDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	info, err := d.root.aks.Lookup(name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, syscall.ENOENT
	}
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{"ak": name})
	}
	if info.Damaged != nil {
		d.root.errno(ctx, info.Damaged, logrus.Fields{"ak": name, "op": "lookup"})
	}
	return d.keyInode(ctx, info, out), 0
}

// keyInode returns the inode of the key info describes: one per
// identity, so a new key of an old name never shares the old one's open
// files.
func (d *akDir) keyInode(ctx context.Context, info vault.AKInfo, out *fuse.EntryOut) *gofs.Inode {
	k := &akKeyDir{root: d.root, ref: info.Ref, name: info.Name()}
	k.noRemove.root = d.root
	k.fillAttr(info, &out.Attr)
	return d.NewInode(ctx, k, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: info.Ino})
}

func (d *akDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, err := d.root.aks.List()
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{"op": "list attestation keys"})
	}
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		entries = append(entries, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR})
	}
	return gofs.NewListDirStream(entries), 0
}

// Mkdir creates an attestation key owned by the caller, private as a
// sealed object starts; the key itself is made on first use.
func (d *akDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	fields := logrus.Fields{"ak": name, "op": "mkdir"}
	if e := d.root.writable(ctx, fields); e != 0 {
		return nil, e
	}
	c, mode, gid := d.newObject(ctx, mode)
	info, err := d.root.aks.Create(c, name, mode, gid)
	if errors.Is(err, vault.ErrExists) {
		return nil, syscall.EEXIST
	}
	if err != nil {
		return nil, d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithFields(logrus.Fields{
		"uid": info.UID, "gid": info.GID, "mode": fmt.Sprintf("%#o", info.Mode),
	}).Info("attestation key created")
	return d.keyInode(ctx, info, out), 0
}

// Rmdir removes the key (the kernel checked the caller's right: write
// access to ak/, and the sticky bit).
func (d *akDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	fields := logrus.Fields{"ak": name, "op": "rmdir"}
	if e := d.root.writable(ctx, fields); e != 0 {
		return e
	}
	err := d.root.aks.Remove(name)
	if errors.Is(err, vault.ErrNotFound) {
		return syscall.ENOENT
	}
	if err != nil {
		return d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithField("uid", caller(ctx).UID).Info("attestation key removed")
	return 0
}

// Unlink: ak/ holds only keys, which rmdir removes.
func (d *akDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return (&noRemove{root: d.root}).Unlink(ctx, name)
}

// Rename: a key's name is its record's; it cannot move.
func (d *akDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return (&noRemove{root: d.root}).Rename(ctx, name, newParent, newName, flags)
}
