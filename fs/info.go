package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// infoFile serves "key: value" lines about the TPM. The content is fixed
// for the life of the mount, so the kernel may cache it.
type infoFile struct {
	fixed
}

var _ = (gofs.NodeOpener)((*infoFile)(nil))
var _ = (gofs.NodeReader)((*infoFile)(nil))
var _ = (gofs.NodeGetattrer)((*infoFile)(nil))

func (f *infoFile) content() []byte { return []byte(f.root.core.Info().String()) }

func (f *infoFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.size = uint64(len(f.content()))
	f.fillAttr(&out.Attr)
	return 0
}

func (f *infoFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *infoFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	c := f.content()
	if off >= int64(len(c)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(c[off:min(int64(len(c)), off+int64(len(dest)))]), 0
}
