package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
)

// deviceFile is tpmrm0: a raw command channel with the semantics of
// Linux /dev/tpmrm0. Each open is a tpmcore client, resource-managed; a
// TPM whose raw channel tpmcore allows once at a time (TPM 1.2: like
// /dev/tpm0) answers a second open with EBUSY.
type deviceFile struct {
	fixed
}

var _ = (gofs.NodeOpener)((*deviceFile)(nil))

func (f *deviceFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	fields := logrus.Fields{"op": "open tpmrm0"}
	if e := f.root.writable(ctx, fields); e != 0 {
		return nil, 0, e
	}
	cl, err := f.root.openRaw(caller(ctx).UID)
	if err != nil {
		return nil, 0, f.root.errno(ctx, err, fields)
	}
	return &deviceHandle{root: f.root, client: cl}, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NONSEEKABLE, 0
}

// deviceHandle is one open of tpmrm0: its client checks each write and
// keeps the response until it is read.
type deviceHandle struct {
	root   *Root
	client RawClient
}

var _ = (gofs.FileReader)((*deviceHandle)(nil))
var _ = (gofs.FileWriter)((*deviceHandle)(nil))
var _ = (gofs.FileReleaser)((*deviceHandle)(nil))

func (h *deviceHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.client.Write(tpmContext(ctx), data)
	if err != nil {
		return 0, h.root.errno(ctx, err, logrus.Fields{"op": "tpmrm0 command"})
	}
	return uint32(n), 0
}

func (h *deviceHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := h.client.Read(dest)
	return fuse.ReadResultData(dest[:n]), 0
}

// Release flushes everything the client left in the TPM.
func (h *deviceHandle) Release(ctx context.Context) syscall.Errno {
	if err := h.client.Close(); err != nil {
		return h.root.errno(ctx, err, logrus.Fields{"op": "close tpmrm0"})
	}
	return 0
}
