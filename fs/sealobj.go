package fs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/sealstore"
)

// objDir is seal/NAME/: owner, group and mode are the object's own and
// persist in its state file; it holds pcrs, policy and data.
type objDir struct {
	gofs.Inode
	root *Root
	name string
}

var _ = (gofs.NodeOnAdder)((*objDir)(nil))
var _ = (gofs.NodeGetattrer)((*objDir)(nil))
var _ = (gofs.NodeSetattrer)((*objDir)(nil))
var _ = (gofs.NodeUnlinker)((*objDir)(nil))

func (o *objDir) OnAdd(ctx context.Context) {
	for _, k := range []objKind{kindData, kindPCRs, kindPolicy} {
		f := &objFile{obj: o, kind: k}
		o.AddChild(k.name(), o.NewPersistentInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	}
}

func (o *objDir) fields() logrus.Fields { return logrus.Fields{"object": o.name} }

func (o *objDir) fillAttr(rec *sealstore.Record, a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | rec.Mode
	a.Uid, a.Gid = rec.UID, rec.GID
	a.Nlink = 2
	fillRecordTimes(rec, a)
}

func fillRecordTimes(rec *sealstore.Record, a *fuse.Attr) {
	m := rec.Modified
	if m.IsZero() {
		m = rec.Created
	}
	a.SetTimes(&m, &m, &m)
}

func (o *objDir) load(ctx context.Context) (*sealstore.Record, syscall.Errno) {
	rec, err := o.root.store.Load(o.name)
	if err != nil {
		return nil, o.root.errno(ctx, err, o.fields())
	}
	return rec, 0
}

func (o *objDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	rec, e := o.load(ctx)
	if e != 0 {
		return e
	}
	o.fillAttr(rec, &out.Attr)
	return 0
}

// Setattr is chmod/chown of the object. The kernel has already applied
// the Unix rules (default_permissions): owner or root may chmod, only root
// may chown. The change persists in the object's state file.
func (o *objDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fields := o.fields()
	fields["op"] = "setattr"
	unlock := o.root.lockObject(o.name)
	defer unlock()
	rec, e := o.load(ctx)
	if e != 0 {
		return e
	}
	changed := false
	if m, ok := in.GetMode(); ok {
		rec.Mode, changed = m&0o7777, true
	}
	if uid, ok := in.GetUID(); ok {
		rec.UID, changed = uid, true
	}
	if gid, ok := in.GetGID(); ok {
		rec.GID, changed = gid, true
	}
	if changed {
		if o.root.opts.ReadOnly {
			return o.root.errno(ctx, errReadOnly, fields)
		}
		rec.Modified = time.Now().UTC()
		if err := o.root.store.Save(rec); err != nil {
			return o.root.errno(ctx, err, fields)
		}
		o.root.log.WithFields(fields).WithFields(logrus.Fields{
			"uid": rec.UID, "gid": rec.GID, "mode": fmt.Sprintf("%#o", rec.Mode),
		}).Info("sealed object owner or mode changed")
		o.forgetChildAttrs()
	}
	o.fillAttr(rec, &out.Attr)
	return 0
}

// forgetChildAttrs makes the kernel drop the cached attributes of data,
// pcrs and policy, whose owner and mode follow the object's, so that ls
// shows a chmod at once. (Access is safe meanwhile: every path to them
// is checked against the object directory, which the kernel updates from
// Setattr's answer.)
func (o *objDir) forgetChildAttrs() {
	for _, child := range o.Children() {
		// ENOENT: the kernel does not know the file yet; nothing to drop.
		child.NotifyContent(-1, 0) // -1: attributes only
	}
}

// Unlink of data drops the secret; pcrs and policy are attributes of the
// object and stay. Either way rm -r can go on to rmdir the object.
func (o *objDir) Unlink(ctx context.Context, name string) syscall.Errno {
	fields := o.fields()
	fields["op"] = "unlink " + name
	if o.root.opts.ReadOnly {
		return o.root.errno(ctx, errReadOnly, fields)
	}
	switch name {
	case kindPCRs.name(), kindPolicy.name():
		return 0
	case kindData.name():
	default:
		return syscall.ENOENT
	}
	unlock := o.root.lockObject(o.name)
	defer unlock()
	rec, e := o.load(ctx)
	if e != 0 {
		return e
	}
	if rec.Sealed == nil {
		return 0
	}
	rec.Sealed = nil
	rec.Modified = time.Now().UTC()
	if err := o.root.store.Save(rec); err != nil {
		return o.root.errno(ctx, err, fields)
	}
	return 0
}

type objKind int

const (
	kindData objKind = iota
	kindPCRs
	kindPolicy
)

func (k objKind) name() string { return [...]string{"data", "pcrs", "policy"}[k] }

// mode derives a file's mode from the object's: the files follow the
// directory's read and write bits (policy is never writable).
func (k objKind) mode(objMode uint32) uint32 {
	if k == kindPolicy {
		return objMode & 0o444
	}
	return objMode & 0o666
}
