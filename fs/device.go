package fs

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
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
	if f.root.opts.ReadOnly {
		return nil, 0, f.root.errno(ctx, errReadOnly, fields)
	}
	cl, err := f.root.core.NewClient(callerUID(ctx))
	if err != nil {
		return nil, 0, f.root.errno(ctx, err, fields)
	}
	return &deviceHandle{root: f.root, client: cl}, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NONSEEKABLE, 0
}

// callerUID is the uid of the process making a FUSE request; tpmcore's
// resource manager holds it to a command policy and quotas. A request
// without one (never from the kernel) counts as an unknown, unprivileged
// user.
func callerUID(ctx context.Context) uint32 {
	if caller, ok := fuse.FromContext(ctx); ok {
		return caller.Uid
	}
	return 1<<32 - 1
}

// deviceHandle holds one client and its pending response: one whole
// command per write, then the response is read (in parts if wanted).
type deviceHandle struct {
	root   *Root
	client *tpmcore.Client
	mu     sync.Mutex
	rsp    []byte // unread rest of the last response
}

var _ = (gofs.FileReader)((*deviceHandle)(nil))
var _ = (gofs.FileWriter)((*deviceHandle)(nil))
var _ = (gofs.FileReleaser)((*deviceHandle)(nil))

// commandHeader is the size of a TPM command header (tag, size, code).
const commandHeader = 10

func (h *deviceHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.rsp) > 0 {
		return 0, syscall.EBUSY // the last response was not read
	}
	if len(data) > tpmcore.MaxCommand {
		return 0, syscall.E2BIG
	}
	if len(data) < commandHeader || int(binary.BigEndian.Uint32(data[2:6])) > len(data) {
		return 0, syscall.EINVAL // shorter than its header says
	}
	// Only the bytes the header announces form the command, as the kernel does.
	cmd := append([]byte(nil), data[:binary.BigEndian.Uint32(data[2:6])]...)
	rsp, err := h.client.Transmit(tpmContext(ctx), cmd)
	if err != nil {
		return 0, h.root.errno(ctx, err, logrus.Fields{"op": "tpmrm0 command", "cc": fmt.Sprintf("%#x", binary.BigEndian.Uint32(cmd[6:10]))})
	}
	h.rsp = rsp
	return uint32(len(data)), 0
}

func (h *deviceHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := copy(dest, h.rsp)
	h.rsp = h.rsp[n:]
	if len(h.rsp) == 0 {
		h.rsp = nil
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Release flushes everything the client left in the TPM.
func (h *deviceHandle) Release(ctx context.Context) syscall.Errno {
	if err := h.client.Close(); err != nil {
		return h.root.errno(ctx, err, logrus.Fields{"op": "close tpmrm0"})
	}
	return 0
}
