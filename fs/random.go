package fs

import (
	"context"
	"fmt"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
)

// randomFile streams bytes from the TPM's RNG: every read returns fresh
// bytes and the stream never ends, like /dev/urandom.
type randomFile struct {
	fixed
}

var _ = (gofs.NodeOpener)((*randomFile)(nil))
var _ = (gofs.NodeReader)((*randomFile)(nil))

func (f *randomFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		fields := logrus.Fields{"op": "open random for writing"}
		if e := f.root.writable(ctx, fields); e != 0 {
			return nil, 0, e
		}
		return nil, 0, f.root.errno(ctx, fmt.Errorf("random: %w", errNotWritable), fields)
	}
	// Direct I/O: no page cache, and reads past the (zero) size still
	// reach us, so the file is an endless stream.
	return nil, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NONSEEKABLE, 0
}

func (f *randomFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if err := f.root.tpm.Random(tpmContext(ctx), dest); err != nil {
		return nil, f.root.errno(ctx, err, logrus.Fields{"op": "random", "len": len(dest)})
	}
	return fuse.ReadResultData(dest), 0
}
