package fs

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
)

// pcrDir is pcrs/ and pcrs/<bank>/.
type pcrDir struct {
	gofs.Inode
	noRemove
	root *Root
}

var _ = (gofs.NodeGetattrer)((*pcrDir)(nil))
var _ = (gofs.NodeLookuper)((*pcrDir)(nil))

func (d *pcrDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.fillDirAttr(&out.Attr, 0o755)
	out.SetTimeout(fixedTimeout)
	return 0
}

// Lookup lets the kernel keep pcrs/ entries for long: they never change.
func (d *pcrDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return lookupFixed(ctx, &d.Inode, name, out)
}

// newPCRDir builds pcrs/ with NN (default bank, event writes) and one
// directory per active bank (digest writes).
func (r *Root) newPCRDir(ctx context.Context) *gofs.Inode {
	dir := r.NewPersistentInode(ctx, &pcrDir{root: r, noRemove: noRemove{r}}, gofs.StableAttr{Mode: syscall.S_IFDIR})
	for i := 0; i < tpmcore.NumPCRs; i++ {
		dir.AddChild(pcrName(i), r.newPCRFile(ctx, r.bank, i, true), false)
	}
	for _, b := range r.tpm.Banks() {
		bd := r.NewPersistentInode(ctx, &pcrDir{root: r, noRemove: noRemove{r}}, gofs.StableAttr{Mode: syscall.S_IFDIR})
		for i := 0; i < tpmcore.NumPCRs; i++ {
			bd.AddChild(pcrName(i), r.newPCRFile(ctx, b, i, false), false)
		}
		dir.AddChild(b.Name, bd, false)
	}
	return dir
}

func pcrName(i int) string { return fmt.Sprintf("%02d", i) }

// pcrFile reads as the PCR's value in hex. Writing measures event data
// (event files, pcrs/NN) or extends one bank with a digest (pcrs/<bank>/NN).
type pcrFile struct {
	fixed
	bank  tpmcore.Bank
	idx   int
	event bool
}

func (r *Root) newPCRFile(ctx context.Context, b tpmcore.Bank, idx int, event bool) *gofs.Inode {
	f := &pcrFile{fixed: r.fixed(r.opts.PCRMode, "pcr_mode"), bank: b, idx: idx, event: event}
	f.size = uint64(2*b.Size + 1)
	return r.NewPersistentInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG})
}

var _ = (gofs.NodeOpener)((*pcrFile)(nil))
var _ = (gofs.NodeGetattrer)((*pcrFile)(nil))

// Getattr: a PCR file's attributes never change (its value is read with
// direct I/O, never from them), so the kernel may keep them for long.
func (f *pcrFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.fillAttr(&out.Attr)
	out.SetTimeout(fixedTimeout)
	return 0
}

func (f *pcrFile) fields() logrus.Fields {
	return logrus.Fields{"pcr": f.idx, "bank": f.bank.Name, "event": f.event}
}

func (f *pcrFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h := &pcrHandle{f: f}
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		if e := f.root.writable(ctx, f.fields()); e != 0 {
			return nil, 0, e
		}
		// Refuse at open what the TPM would refuse at close, so that
		// shells, which ignore close errors, see it.
		if !f.root.tpm.CanExtend(f.idx) {
			err := fmt.Errorf("extend pcr %d: %w: locality 0 may not extend it", f.idx, tpmcore.ErrNotAllowed)
			return nil, 0, f.root.errno(ctx, err, f.fields())
		}
		if f.root.logs != nil {
			if err := f.root.logs.CheckRoom(); err != nil {
				return nil, 0, f.root.errno(ctx, fmt.Errorf("extend pcr %d: %w", f.idx, err), f.fields())
			}
		}
		h.writable = true
	}
	// Direct I/O: every read reaches the TPM, so cat never shows a stale
	// value from the page cache.
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// pcrHandle is one open file: a value snapshot for reads that continue
// past offset 0, and the bytes written so far.
type pcrHandle struct {
	f        *pcrFile
	mu       sync.Mutex
	value    []byte
	writable bool
	buf      []byte
	done     bool // the digest was extended already
	failed   bool // a write was refused: close must not extend
}

var _ = (gofs.FileReader)((*pcrHandle)(nil))
var _ = (gofs.FileWriter)((*pcrHandle)(nil))
var _ = (gofs.FileFlusher)((*pcrHandle)(nil))

func (h *pcrHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A read from the start asks the TPM; a read that continues one
	// (small buffers) sees the same snapshot, so a value is never torn.
	if off == 0 || h.value == nil {
		v, err := h.f.root.tpm.ReadPCR(tpmContext(ctx), h.f.bank, h.f.idx)
		if err != nil {
			return nil, h.f.root.errno(ctx, err, h.f.fields())
		}
		h.value = append(hex.AppendEncode(h.value[:0], v), '\n')
	}
	return readAt(h.value, dest, off), 0
}

func (h *pcrHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.writable {
		return 0, syscall.EBADF
	}
	end := off + int64(len(data))
	if off < 0 || end > tpmcore.MaxEvent {
		h.failed = true
		err := fmt.Errorf("write pcr %d: %w: more than %d bytes", h.f.idx, errTooLarge, tpmcore.MaxEvent)
		return 0, h.f.root.errno(ctx, err, h.f.fields())
	}
	if h.f.event {
		// Event data is a stream: measured is exactly what was written,
		// in order, whatever the offset (a descriptor that read the
		// value first writes past it, and would measure zeros).
		if len(h.buf)+len(data) > tpmcore.MaxEvent {
			h.failed = true
			err := fmt.Errorf("write pcr %d: %w: more than %d bytes", h.f.idx, errTooLarge, tpmcore.MaxEvent)
			return 0, h.f.root.errno(ctx, err, h.f.fields())
		}
		h.buf = append(h.buf, data...)
		return uint32(len(data)), 0
	}
	h.buf = writeAt(h.buf, data, off)
	if err := h.digestWritten(ctx); err != nil {
		h.failed = true
		return 0, h.f.root.errno(ctx, err, h.f.fields())
	}
	return uint32(len(data)), 0
}

// digestWritten checks the bytes so far and extends as soon as a whole
// digest followed by whitespace (echo's newline) has arrived.
func (h *pcrHandle) digestWritten(ctx context.Context) error {
	s := string(h.buf)
	if h.done {
		// Only whitespace may follow a digest that was extended already.
		if _, err := parseDigest(s, h.f.bank.Size); err != nil {
			return fmt.Errorf("extend pcr %s:%d: %w: data after the digest", h.f.bank.Name, h.f.idx, errInvalid)
		}
		return nil
	}
	if err := digestPrefix(s, h.f.bank.Size); err != nil {
		return fmt.Errorf("extend pcr %s:%d: %w", h.f.bank.Name, h.f.idx, err)
	}
	if strings.TrimRight(s, digestSpace) == s {
		return nil // maybe more to come; close decides
	}
	return h.extend(ctx)
}

func (h *pcrHandle) extend(ctx context.Context) error {
	d, err := parseDigest(string(h.buf), h.f.bank.Size)
	if err != nil {
		return fmt.Errorf("extend pcr %s:%d: %w", h.f.bank.Name, h.f.idx, err)
	}
	h.done = true
	return h.f.root.tpm.Extend(callerContext(ctx), h.f.bank, h.f.idx, d)
}

// Flush runs on every close: event data is measured here, and a digest
// written without a trailing newline is extended here.
func (h *pcrHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.writable || h.failed || h.done || len(h.buf) == 0 {
		return 0
	}
	var err error
	if h.f.event {
		err = h.f.root.tpm.Measure(callerContext(ctx), h.f.idx, h.buf)
		h.buf = nil
	} else {
		err = h.extend(ctx)
	}
	if err != nil {
		h.failed = true
		return h.f.root.errno(ctx, err, h.f.fields())
	}
	return 0
}

var _ = (gofs.NodeSetattrer)((*pcrDir)(nil))

// Setattr refuses chmod and chown of pcrs/ and pcrs/<bank>/; their files
// take pcr_mode=, the directories stay searchable by all.
func (d *pcrDir) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := d.root.refuseOwnerMode(ctx, &d.Inode, in, "", dirMode); e != 0 {
		return e
	}
	d.root.fillDirAttr(&out.Attr, dirMode)
	return 0
}
