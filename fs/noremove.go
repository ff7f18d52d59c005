package fs

import (
	"context"
	"fmt"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sirupsen/logrus"
)

// noRemove makes a directory's entries permanent: the tree is the TPM's,
// not the user's. Without it go-fuse answers unlink, rmdir and rename of
// a node that does not implement them with success, and the node vanishes
// until remount.
type noRemove struct{ root *Root }

var _ = (gofs.NodeUnlinker)((*noRemove)(nil))
var _ = (gofs.NodeRmdirer)((*noRemove)(nil))
var _ = (gofs.NodeRenamer)((*noRemove)(nil))

func (n *noRemove) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.refuse(ctx, "unlink", name)
}

func (n *noRemove) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.refuse(ctx, "rmdir", name)
}

func (n *noRemove) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return n.refuse(ctx, "rename", name)
}

func (n *noRemove) refuse(ctx context.Context, op, name string) syscall.Errno {
	if e := n.root.writable(ctx, logrus.Fields{"op": op, "name": name}); e != 0 {
		return e
	}
	return n.root.errno(ctx, fmt.Errorf("%s %s: %w: part of the tree", op, name, errFixed), logrus.Fields{"op": op, "name": name})
}
