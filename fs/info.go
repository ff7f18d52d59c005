package fs

import (
	"fmt"

	"context"
	"github.com/sirupsen/logrus"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// infoFile serves "key: value" lines about the TPM. The content is fixed
// for the life of the mount (read at start), so it is rendered once and
// the kernel may cache it.
type infoFile struct {
	fixed
	content []byte
}

func (r *Root) newInfoFile() *infoFile {
	f := &infoFile{fixed: r.fixed(0o444, ""), content: []byte(r.tpm.Info().String())}
	f.size = uint64(len(f.content))
	return f
}

var _ = (gofs.NodeOpener)((*infoFile)(nil))
var _ = (gofs.NodeReader)((*infoFile)(nil))

func (f *infoFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, f.root.errno(ctx, fmt.Errorf("open info for writing: %w", errNotWritable), logrus.Fields{"op": "open"})
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *infoFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return readAt(f.content, dest, off), 0
}
