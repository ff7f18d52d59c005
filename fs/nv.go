package fs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
	"tpmfs/tpmcore/nv"
)

// nvDir is nv/: one file per defined NV index, named by its handle in
// lower-case hex, 0x01500020. truncate -s SIZE on a new name defines an
// ordinary index; rm undefines one the owner may. The directory is
// uid=/gid='s, 0755: defining and undefining take owner authorisation.
type nvDir struct {
	fixed
}

var _ = (gofs.NodeGetattrer)((*nvDir)(nil))
var _ = (gofs.NodeSetattrer)((*nvDir)(nil))
var _ = (gofs.NodeLookuper)((*nvDir)(nil))
var _ = (gofs.NodeReaddirer)((*nvDir)(nil))
var _ = (gofs.NodeCreater)((*nvDir)(nil))
var _ = (gofs.NodeUnlinker)((*nvDir)(nil))
var _ = (gofs.NodeRmdirer)((*nvDir)(nil))
var _ = (gofs.NodeRenamer)((*nvDir)(nil))

func (d *nvDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

func (d *nvDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := d.root.refuseOwnerMode(ctx, &d.Inode, in, "", d.mode); e != 0 {
		return e
	}
	d.root.fillDirAttr(&out.Attr, d.mode)
	return 0
}

// nvName is an index's file name.
func nvName(index uint32) string { return fmt.Sprintf("0x%08x", index) }

// parseNVName accepts exactly the names nvName gives, so that an index
// has one name only.
func parseNVName(name string) (uint32, bool) {
	if len(name) != 10 || name[:2] != "0x" {
		return 0, false
	}
	v, err := strconv.ParseUint(name[2:], 16, 32)
	if err != nil || nvName(uint32(v)) != name || !nv.IsIndex(uint32(v)) {
		return 0, false
	}
	return uint32(v), true
}

func (d *nvDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	index, ok := parseNVName(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	pub, err := d.root.nv.NVPublic(tpmContext(ctx), index)
	if errors.Is(err, tpmcore.ErrNotFound) {
		return nil, syscall.ENOENT
	}
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{"nv": name, "op": "lookup"})
	}
	// The same index keeps its inode, so open files of it go on; one
	// redefined since is a new file, and the old one's handles fail.
	if ch := d.GetChild(name); ch != nil {
		if f, ok := ch.Operations().(*nvFile); ok && f.same(pub) {
			f.fillAttr(&out.Attr)
			return ch, 0
		}
	}
	f := &nvFile{root: d.root}
	f.set(pub)
	f.fillAttr(&out.Attr)
	return d.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}

func (d *nvDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	indices, err := d.root.nv.NVList(tpmContext(ctx))
	if err != nil {
		return nil, d.root.errno(ctx, err, logrus.Fields{"op": "list NV indices"})
	}
	entries := make([]fuse.DirEntry, 0, len(indices))
	for _, i := range indices {
		entries = append(entries, fuse.DirEntry{Name: nvName(i), Mode: syscall.S_IFREG})
	}
	return gofs.NewListDirStream(entries), 0
}

// Create opens a new name: nothing is defined until truncate -s gives
// the size (its ftruncate comes through this open file); an open closed
// without one leaves nothing behind.
func (d *nvDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	fields := logrus.Fields{"nv": name, "op": "create"}
	if e := d.root.writable(ctx, fields); e != 0 {
		return nil, nil, 0, e
	}
	index, ok := parseNVName(name)
	if !ok || index < nv.DefineFirst || index > nv.DefineLast {
		return nil, nil, 0, d.root.errno(ctx, fmt.Errorf("nv/%s: %w: name an index 0x%08x to 0x%08x as 0xHHHHHHHH, lower case",
			name, errInvalid, nv.DefineFirst, nv.DefineLast), fields)
	}
	f := &nvFile{root: d.root, pending: index}
	f.fillAttr(&out.Attr)
	ch := d.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG})
	h := &nvHandle{f: f, write: true, owner: d.root.isOwner(ctx)}
	return ch, h, fuse.FOPEN_DIRECT_IO, 0
}

// Unlink undefines an index, with owner authorisation; one the platform
// made or that only its policy deletes is EPERM.
func (d *nvDir) Unlink(ctx context.Context, name string) syscall.Errno {
	fields := logrus.Fields{"nv": name, "op": "undefine"}
	if e := d.root.writable(ctx, fields); e != 0 {
		return e
	}
	index, ok := parseNVName(name)
	if !ok {
		return syscall.ENOENT
	}
	pub, err := d.root.nv.NVPublic(tpmContext(ctx), index)
	if errors.Is(err, tpmcore.ErrNotFound) {
		return syscall.ENOENT
	}
	if err == nil && !pub.Undefinable() {
		err = fmt.Errorf("nv/%s: %w: defined by the platform or deleted only by its policy", name, errFixed)
	}
	if err == nil {
		err = d.root.nv.NVUndefine(tpmContext(ctx), pub)
	}
	if err != nil {
		return d.root.errno(ctx, err, fields)
	}
	d.root.log.WithFields(fields).WithField("uid", caller(ctx).UID).Info("NV index undefined")
	return 0
}

// Rmdir and Rename: nv/ holds indices, which are neither directories
// nor movable.
func (d *nvDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return (&noRemove{root: d.root}).Rmdir(ctx, name)
}

func (d *nvDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return (&noRemove{root: d.root}).Rename(ctx, name, newParent, newName, flags)
}

// isOwner reports whether the caller acts as the TPM's owner: root or
// the mount's uid=, to whom the owner bits of nv/'s files stand for
// owner authorisation.
func (r *Root) isOwner(ctx context.Context) bool {
	uid := caller(ctx).UID
	return uid == 0 || uid == r.opts.UID
}
