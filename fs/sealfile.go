package fs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
	"tpmfs/vault"
)

// objFile is one of seal/NAME/{data,pcrs,policy,authkey,pcrsig,status}:
// its owner and mode follow the object's.
type objFile struct {
	gofs.Inode
	obj  *objDir
	part vault.Part
}

var _ = (gofs.NodeGetattrer)((*objFile)(nil))
var _ = (gofs.NodeSetattrer)((*objFile)(nil))
var _ = (gofs.NodeOpener)((*objFile)(nil))

func (f *objFile) fields() logrus.Fields {
	return logrus.Fields{"object": f.obj.ref.Name, "file": f.part.String()}
}

// mode derives a file's mode from the object's: the files follow the
// directory's read and write bits (policy and status are never
// writable).
func (f *objFile) mode(objMode uint32) uint32 {
	if !f.part.Writable() {
		return objMode & 0o444
	}
	return objMode & 0o666
}

func (f *objFile) fillAttr(info vault.Info, a *fuse.Attr) {
	objectAttr(a, info, syscall.S_IFREG|f.mode(info.Mode), info.PartSize(f.part))
}

func (f *objFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	info, e := f.obj.stat(ctx)
	if e != 0 {
		return e
	}
	f.fillAttr(info, &out.Attr)
	return 0
}

// Setattr: truncation to zero empties what the writer will commit.
// open(O_TRUNC)'s truncation comes after the open and without the file
// handle; the vault applies it to the writers that have not written yet,
// or, with none open (truncate -s 0), commits the empty content at once.
// Modes belong to the object directory.
func (f *objFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fields := f.fields()
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		fields["op"] = "chmod/chown"
		return f.obj.root.errno(ctx, fmt.Errorf("chmod/chown %s: %w: change the object directory instead", f.part, errFixed), fields)
	}
	if sz, ok := in.GetSize(); ok {
		fields["op"] = "truncate"
		if e := f.obj.root.writable(ctx, fields); e != 0 {
			return e
		}
		if sz != 0 {
			return f.obj.root.errno(ctx, fmt.Errorf("truncate %s to %d: %w: only to 0", f.part, sz, errInvalid), fields)
		}
		var err error
		if h, ours := fh.(*objHandle); ours && h.w != nil {
			err = h.w.Truncate()
		} else {
			err = f.obj.root.objects.Truncate(tpmContext(ctx), caller(ctx), f.obj.ref, f.part)
		}
		if err != nil {
			return f.obj.root.errno(ctx, err, fields)
		}
	}
	return f.Getattr(ctx, fh, out)
}

// Open opens a view taken now (reading: data is unsealed here, so a PCR
// policy that fails is open's EACCES; status asks the TPM here) or a
// writer whose content replaces the old at close.
func (f *objFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	fields := f.fields()
	r := f.obj.root
	c := caller(ctx)
	h := &objHandle{f: f}
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		fields["op"] = "open for writing"
		if e := r.writable(ctx, fields); e != 0 {
			return nil, 0, e
		}
		w, err := r.objects.OpenWrite(tpmContext(ctx), c, f.obj.ref, f.part)
		if err != nil {
			return nil, 0, r.errno(ctx, err, fields)
		}
		h.w = w
	} else {
		fields["op"] = "open"
		rd, err := r.objects.OpenRead(tpmContext(ctx), c, f.obj.ref, f.part)
		if err != nil {
			return nil, 0, r.errno(ctx, err, policyFields(fields, err))
		}
		h.r = rd
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// policyFields adds which PCRs differ from the sealed-to values, and,
// for signed policies, the PCRs none of them matches.
func policyFields(fields logrus.Fields, err error) logrus.Fields {
	var pe *tpmcore.PolicyError
	if errors.As(err, &pe) {
		var differ []string
		for _, v := range pe.Differ {
			differ = append(differ, v.String())
		}
		fields["pcrs_differ"] = strings.Join(differ, ",")
		if pe.Signed {
			var unsigned []string
			for _, v := range pe.Unsigned {
				unsigned = append(unsigned, v.String())
			}
			fields["pcrs_unsigned"] = strings.Join(unsigned, ",")
		}
	}
	return fields
}

// objHandle is an open object file: a reader's view or a writer.
type objHandle struct {
	f *objFile
	r vault.Reader
	w vault.Writer
}

var _ = (gofs.FileReader)((*objHandle)(nil))
var _ = (gofs.FileWriter)((*objHandle)(nil))
var _ = (gofs.FileFlusher)((*objHandle)(nil))
var _ = (gofs.FileReleaser)((*objHandle)(nil))

func (h *objHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	var b []byte
	var err error
	if h.w != nil {
		b, err = h.w.Bytes(tpmContext(ctx))
	} else {
		b, err = h.r.Bytes()
	}
	if err != nil {
		return nil, h.f.obj.root.errno(ctx, err, policyFields(h.f.fields(), err))
	}
	return readAt(b, dest, off), 0
}

func (h *objHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if h.w == nil {
		return 0, syscall.EBADF
	}
	if err := h.w.WriteAt(tpmContext(ctx), data, off); err != nil {
		return 0, h.f.obj.root.errno(ctx, err, policyFields(h.f.fields(), err))
	}
	return uint32(len(data)), 0
}

// Flush runs on every close(2): what was written since the last commit
// is sealed here, and its error reaches that close. A close with nothing
// written (a shell's dup'd descriptor) commits nothing.
func (h *objHandle) Flush(ctx context.Context) syscall.Errno {
	if h.w == nil {
		return 0
	}
	if err := h.w.Flush(tpmContext(ctx)); err != nil {
		fields := h.f.fields()
		fields["op"] = "seal at close"
		return h.f.obj.root.errno(ctx, err, policyFields(fields, err))
	}
	return 0
}

// Release commits a truncation no write followed (": > data") and wipes
// what the handle held. Nobody sees its error: it is logged.
func (h *objHandle) Release(ctx context.Context) syscall.Errno {
	if h.r != nil {
		h.r.Close()
	}
	if h.w != nil {
		if err := h.w.Close(tpmContext(ctx)); err != nil {
			fields := h.f.fields()
			fields["op"] = "seal at release"
			h.f.obj.root.errno(ctx, err, policyFields(fields, err))
		}
	}
	return 0
}
