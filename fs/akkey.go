package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/vault"
)

// akKeyDir is ak/NAME/: one attestation key, held by its identity.
// Owner, group and mode are its own and persist; its files are its
// attributes and cannot be removed.
type akKeyDir struct {
	gofs.Inode
	noRemove
	root *Root
	ref  vault.Ref
	name string
}

var _ = (gofs.NodeGetattrer)((*akKeyDir)(nil))
var _ = (gofs.NodeSetattrer)((*akKeyDir)(nil))
var _ = (gofs.NodeLookuper)((*akKeyDir)(nil))
var _ = (gofs.NodeReaddirer)((*akKeyDir)(nil))

// akPart is one file of a key.
type akPart int

const (
	akPEM      akPart = iota // public.pem
	akTPM2B                  // public.tpm2b
	akName                   // name
	akType                   // type
	akQuote                  // quote
	akActivate               // activate
)

var akParts = []akPart{akPEM, akTPM2B, akName, akType, akQuote, akActivate}

func (p akPart) String() string {
	return [...]string{"public.pem", "public.tpm2b", "name", "type", "quote", "activate"}[p]
}

// mode is a file's mode from the key's: the public parts are read-only;
// type, quote and activate take the key's read and write bits (a quote
// or an activation writes a request and reads the answer).
func (p akPart) mode(keyMode uint32) uint32 {
	if p <= akName {
		return keyMode & 0o444
	}
	return keyMode & 0o666
}

func (k *akKeyDir) fields() logrus.Fields { return logrus.Fields{"ak": k.name} }

func (k *akKeyDir) fillAttr(info vault.AKInfo, a *fuse.Attr) {
	objectAttr(a, info.Info, syscall.S_IFDIR|info.Mode, 0)
}

// stat describes the key, or fails (ESTALE) once it is gone.
func (k *akKeyDir) stat(ctx context.Context) (vault.AKInfo, syscall.Errno) {
	info, err := k.root.aks.Stat(k.ref)
	if err != nil {
		return info, k.root.errno(ctx, err, k.fields())
	}
	return info, 0
}

func (k *akKeyDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	info, e := k.stat(ctx)
	if e != 0 {
		return e
	}
	k.fillAttr(info, &out.Attr)
	return 0
}

func (k *akKeyDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	for _, p := range akParts {
		if p.String() != name {
			continue
		}
		info, e := k.stat(ctx)
		if e != 0 {
			return nil, e
		}
		if ch := k.GetChild(name); ch != nil {
			ch.Operations().(*akFile).fillAttr(info, &out.Attr)
			return ch, 0
		}
		f := &akFile{key: k, part: p}
		f.fillAttr(info, &out.Attr)
		return k.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
	}
	return nil, syscall.ENOENT
}

func (k *akKeyDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	if _, e := k.stat(ctx); e != 0 {
		return nil, e
	}
	entries := make([]fuse.DirEntry, len(akParts))
	for i, p := range akParts {
		entries[i] = fuse.DirEntry{Name: p.String(), Mode: syscall.S_IFREG}
	}
	return gofs.NewListDirStream(entries), 0
}

// Setattr is chmod/chown of the key (see chattr).
func (k *akKeyDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var info vault.AKInfo
	_, e := k.root.chattr(ctx, &k.Inode, in, k.fields(), "attestation key", func(ch vault.AttrChange) (vault.Info, error) {
		var err error
		info, err = k.root.aks.SetAttr(k.ref, ch)
		return info.Info, err
	})
	if e != 0 {
		return e
	}
	k.fillAttr(info, &out.Attr)
	return 0
}
