package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
)

// fixed is the part every fixed file shares: owner, group and mode come
// from mount options and cannot be changed through the mount.
type fixed struct {
	gofs.Inode
	root   *Root
	mode   uint32 // permission bits
	option string // the mount option that sets mode, for the log
	size   uint64
}

func (r *Root) fixed(mode uint32, option string) fixed {
	return fixed{root: r, mode: mode, option: option}
}

var _ = (gofs.NodeGetattrer)((*fixed)(nil))
var _ = (gofs.NodeSetattrer)((*fixed)(nil))

func (f *fixed) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.fillAttr(&out.Attr)
	return 0
}

func (f *fixed) fillAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | f.mode
	a.Uid, a.Gid = f.root.opts.UID, f.root.opts.GID
	a.Size = f.size
	a.Nlink = 1
	f.root.fillTimes(a)
}

// Setattr accepts truncation to zero (shells open with O_TRUNC before
// writing) and refuses the rest: modes and owners are mount options.
func (f *fixed) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		opt := f.option
		if opt == "" {
			opt = "none: this file's mode is fixed"
		}
		f.root.log.WithFields(logrus.Fields{"path": f.Path(f.root.EmbeddedInode()), "option": opt}).
			Warn("chmod/chown refused on a fixed file; set uid=, gid= or the mode option at mount time")
		return syscall.EPERM
	}
	if sz, ok := in.GetSize(); ok && sz != 0 {
		return syscall.EINVAL
	}
	f.fillAttr(&out.Attr)
	return 0
}
