package fs

import (
	"context"
	"fmt"
	"strings"
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
	option string // the mount option that sets mode ("" if none does)
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
	if e := f.root.refuseOwnerMode(ctx, &f.Inode, in, f.option, f.mode); e != 0 {
		return e
	}
	if sz, ok := in.GetSize(); ok && sz != 0 {
		return f.root.errno(ctx, fmt.Errorf("truncate to %d: %w: only to 0, as a shell's > does", sz, errInvalid), logrus.Fields{"op": "truncate"})
	}
	f.fillAttr(&out.Attr)
	return 0
}

// refuseOwnerMode refuses chmod and chown of a fixed node with EPERM and
// logs which mount option sets what was asked for, so that the admin
// knows where to change it. modeOption is "" when no option sets the
// mode. It returns 0 when in changes neither.
func (r *Root) refuseOwnerMode(ctx context.Context, n *gofs.Inode, in *fuse.SetAttrIn, modeOption string, mode uint32) syscall.Errno {
	var what, use []string
	if in.Valid&fuse.FATTR_MODE != 0 {
		what = append(what, "chmod")
		if modeOption != "" {
			use = append(use, modeOption+"=")
		}
	}
	if in.Valid&(fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		what = append(what, "chown")
		use = append(use, "uid=", "gid=")
	}
	if len(what) == 0 {
		return 0
	}
	path := n.Path(r.EmbeddedInode())
	if path == "" {
		path = "."
	}
	fields := logrus.Fields{"path": path, "op": strings.Join(what, "+")}
	if caller, ok := fuse.FromContext(ctx); ok {
		fields["uid"] = caller.Uid
	}
	msg := fmt.Sprintf("%s refused: the owner and mode of %s are set at mount time", strings.Join(what, "/"), path)
	if len(use) > 0 {
		fields["option"] = strings.Join(use, ",")
		msg += "; use the mount option " + strings.Join(use, " or ")
	}
	if modeOption == "" && in.Valid&fuse.FATTR_MODE != 0 {
		msg += fmt.Sprintf("; its mode %#o is fixed", mode)
	}
	r.log.WithFields(fields).Warn(msg)
	return mapErr(errFixed)
}
