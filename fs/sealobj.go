package fs

import (
	"context"
	"fmt"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/vault"
)

// objDir is seal/NAME/: one object, held by its identity (ref), not its
// name. Owner, group and mode are the object's own and persist; it holds
// data, pcrs, policy, authkey, pcrsig (TPM 2.0) and status, which cannot
// be removed or renamed.
type objDir struct {
	gofs.Inode
	noRemove
	root *Root
	ref  vault.Ref
}

var _ = (gofs.NodeGetattrer)((*objDir)(nil))
var _ = (gofs.NodeSetattrer)((*objDir)(nil))
var _ = (gofs.NodeLookuper)((*objDir)(nil))
var _ = (gofs.NodeReaddirer)((*objDir)(nil))

// allParts are an object's files, in listing order.
var allParts = []vault.Part{vault.Data, vault.PCRs, vault.Policy, vault.AuthKey, vault.PCRSig, vault.Status}

// parts are the files of an object on this TPM: a TPM 1.2 has no signed
// PCR policies, hence no authkey or pcrsig.
func (o *objDir) parts() []vault.Part {
	if o.root.tpm.Info().Family != "1.2" {
		return allParts
	}
	var ps []vault.Part
	for _, p := range allParts {
		if !p.Signed() {
			ps = append(ps, p)
		}
	}
	return ps
}

func (o *objDir) fields() logrus.Fields { return logrus.Fields{"object": o.ref.Name} }

func (o *objDir) fillAttr(info vault.Info, a *fuse.Attr) {
	objectAttr(a, info, syscall.S_IFDIR|info.Mode, 0)
}

// objectAttr fills the attributes of an object's directory or of one of
// its files (sealed objects and attestation keys alike): owner, group and
// times are the object's; mode (with the file type) and size the node's.
func objectAttr(a *fuse.Attr, info vault.Info, mode uint32, size int64) {
	a.Mode = mode
	a.Uid, a.Gid = info.UID, info.GID
	a.Nlink = 1
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		a.Nlink = 2
	}
	a.Size = uint64(size)
	a.SetTimes(&info.Modified, &info.Modified, &info.Modified)
}

// stat describes the object, or fails (ESTALE) once it is gone.
func (o *objDir) stat(ctx context.Context) (vault.Info, syscall.Errno) {
	info, err := o.root.objects.Stat(o.ref)
	if err != nil {
		return info, o.root.errno(ctx, err, o.fields())
	}
	return info, 0
}

func (o *objDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	info, e := o.stat(ctx)
	if e != 0 {
		return e
	}
	o.fillAttr(info, &out.Attr)
	return 0
}

func (o *objDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	for _, p := range o.parts() {
		if p.String() != name {
			continue
		}
		info, e := o.stat(ctx)
		if e != 0 {
			return nil, e
		}
		if ch := o.GetChild(name); ch != nil {
			ch.Operations().(*objFile).fillAttr(info, &out.Attr)
			return ch, 0
		}
		f := &objFile{obj: o, part: p}
		f.fillAttr(info, &out.Attr)
		return o.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
	}
	return nil, syscall.ENOENT
}

func (o *objDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	if _, e := o.stat(ctx); e != 0 {
		return nil, e
	}
	parts := o.parts()
	entries := make([]fuse.DirEntry, len(parts))
	for i, p := range parts {
		entries[i] = fuse.DirEntry{Name: p.String(), Mode: syscall.S_IFREG}
	}
	return gofs.NewListDirStream(entries), 0
}

// Setattr is chmod/chown of the object. The kernel has already applied
// the Unix rules (default_permissions): owner or root may chmod, only root
// may chown. The change persists in the object's state file.
func (o *objDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	info, e := o.root.chattr(ctx, &o.Inode, in, o.fields(), "sealed object",
		func(ch vault.AttrChange) (vault.Info, error) { return o.root.objects.SetAttr(o.ref, ch) })
	if e != 0 {
		return e
	}
	o.fillAttr(info, &out.Attr)
	return 0
}

// chattr applies a chmod or chown of an object (a sealed object, an
// attestation key) with set, which persists it. The kernel has applied the
// Unix rules (default_permissions): owner or root may chmod, only root may
// chown. The object's files, whose owner and mode follow the object's,
// then drop their cached attributes, so that ls shows the change at once.
// (Access is safe meanwhile: every path to them is checked against the
// object directory, which the kernel updates from Setattr's answer.)
func (r *Root) chattr(ctx context.Context, dir *gofs.Inode, in *fuse.SetAttrIn, fields logrus.Fields, what string,
	set func(vault.AttrChange) (vault.Info, error)) (vault.Info, syscall.Errno) {
	fields["op"] = "setattr"
	var ch vault.AttrChange
	if m, ok := in.GetMode(); ok {
		m &= 0o7777
		ch.Mode = &m
	}
	if uid, ok := in.GetUID(); ok {
		ch.UID = &uid
	}
	if gid, ok := in.GetGID(); ok {
		ch.GID = &gid
	}
	changed := ch.Mode != nil || ch.UID != nil || ch.GID != nil
	if changed {
		if e := r.writable(ctx, fields); e != 0 {
			return vault.Info{}, e
		}
	}
	info, err := set(ch)
	if err != nil {
		return info, r.errno(ctx, err, fields)
	}
	if changed {
		r.log.WithFields(fields).WithFields(logrus.Fields{
			"uid": info.UID, "gid": info.GID, "mode": fmt.Sprintf("%#o", info.Mode),
		}).Info(what + " owner or mode changed")
		for _, child := range dir.Children() {
			// ENOENT: the kernel does not know the file yet; nothing to drop.
			child.NotifyContent(-1, 0) // -1: attributes only
		}
	}
	return info, 0
}
