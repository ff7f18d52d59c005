package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
)

// objHandle is an open object file. Reads see one snapshot taken at
// offset 0; writes collect in buf and are applied on close (data) or at
// the end of a line (pcrs).
type objHandle struct {
	f        *objFile
	mu       sync.Mutex
	snap     []byte
	writable bool
	loaded   bool // buf holds the current content (or was truncated)
	dirty    bool
	failed   bool
	buf      []byte
}

var _ = (gofs.FileReader)((*objHandle)(nil))
var _ = (gofs.FileWriter)((*objHandle)(nil))
var _ = (gofs.FileFlusher)((*objHandle)(nil))
var _ = (gofs.FileReleaser)((*objHandle)(nil))

func (h *objHandle) truncate() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf, h.loaded, h.dirty = h.buf[:0], true, true
}

// truncateIfFresh truncates a writer that has not written yet.
func (h *objHandle) truncateIfFresh() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.loaded || h.failed {
		return false
	}
	h.buf, h.loaded, h.dirty = h.buf[:0], true, true
	return true
}

func (h *objHandle) Release(ctx context.Context) syscall.Errno {
	if h.writable {
		h.f.mu.Lock()
		delete(h.f.writers, h)
		h.f.mu.Unlock()
	}
	return 0
}

func (h *objHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 || h.snap == nil {
		b, e := h.content(ctx)
		if e != 0 {
			return nil, e
		}
		h.snap = b
	}
	return readAt(h.snap, dest, off), 0
}

// content is the file's current text; for data, the unsealed secret.
func (h *objHandle) content(ctx context.Context) ([]byte, syscall.Errno) {
	o := h.f.obj
	rec, e := o.load(ctx)
	if e != 0 {
		return nil, e
	}
	switch h.f.kind {
	case kindPCRs:
		return []byte(selectionText(rec)), 0
	case kindPolicy:
		return []byte(policyText(rec)), 0
	}
	if rec.Sealed == nil {
		return []byte{}, 0
	}
	secret, err := o.root.core.Unseal(tpmContext(ctx), o.name, rec.Sealed)
	if err != nil {
		return nil, o.root.errno(ctx, err, policyFields(h.f.fields(), err))
	}
	return secret, 0
}

// policyFields adds which PCRs differ from the sealed-to values.
func policyFields(fields logrus.Fields, err error) logrus.Fields {
	var pe *tpmcore.PolicyError
	if errors.As(err, &pe) {
		var differ []string
		for _, v := range pe.Differ {
			differ = append(differ, v.String())
		}
		fields["pcrs_differ"] = strings.Join(differ, ",")
	}
	return fields
}

func (h *objHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.writable {
		return 0, syscall.EBADF
	}
	root := h.f.obj.root
	end := off + int64(len(data))
	if off < 0 || end > tpmcore.MaxSecret {
		h.failed = true
		err := fmt.Errorf("write %s/%s: %w: more than %d bytes", h.f.obj.name, h.f.kind.name(), errTooLarge, tpmcore.MaxSecret)
		return 0, root.errno(ctx, err, h.f.fields())
	}
	if !h.loaded {
		// Opened without O_TRUNC: a write changes the current content.
		cur, e := h.content(ctx)
		if e != 0 {
			h.failed = true
			return 0, e
		}
		h.buf, h.loaded = append(h.buf[:0], cur...), true
	}
	h.buf = writeAt(h.buf, data, off)
	h.dirty = true
	if h.f.kind == kindPCRs && bytes.HasSuffix(h.buf, []byte("\n")) {
		// A whole line: apply now, so echo sees a bad selection as a
		// write error (shells ignore errors at close).
		if e := h.apply(ctx); e != 0 {
			h.failed = true
			return 0, e
		}
	}
	return uint32(len(data)), 0
}

// Flush applies what was written: the secret is sealed here, and an
// error reaches the writer's close.
func (h *objHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.writable || h.failed || !h.dirty {
		return 0
	}
	if e := h.apply(ctx); e != 0 {
		h.failed = true
		return e
	}
	return 0
}

func (h *objHandle) apply(ctx context.Context) syscall.Errno {
	o := h.f.obj
	fields := h.f.fields()
	unlock := o.root.lockObject(o.name)
	defer unlock()
	rec, e := o.load(ctx)
	if e != 0 {
		return e
	}
	switch h.f.kind {
	case kindData:
		sel, err := o.root.core.ParseSelection(rec.Selection)
		if err != nil {
			return o.root.errno(ctx, err, fields)
		}
		sealed, err := o.root.core.Seal(tpmContext(ctx), o.name, sel, h.buf)
		if err != nil {
			return o.root.errno(ctx, err, fields)
		}
		rec.Sealed = sealed
	case kindPCRs:
		sel, err := o.root.core.ParseSelection(string(h.buf))
		if err != nil {
			return o.root.errno(ctx, err, fields)
		}
		if rec.Sealed != nil {
			sealed, err := o.root.core.Reseal(tpmContext(ctx), o.name, rec.Sealed, sel)
			if err != nil {
				return o.root.errno(ctx, err, policyFields(fields, err))
			}
			rec.Sealed = sealed
		}
		rec.Selection = sel.String()
	}
	rec.Modified = time.Now().UTC()
	if err := o.root.store.Save(rec); err != nil {
		return o.root.errno(ctx, err, fields)
	}
	h.dirty = false
	h.buf = h.buf[:0]
	h.loaded = true
	return 0
}
