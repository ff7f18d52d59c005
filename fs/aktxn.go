package fs

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore/attest"
)

// akTxn is one open of ak/NAME/quote or ak/NAME/activate: a transaction
// of its own, as an open of tpmrm0 is. Offsets are ignored. A write is a
// request (quote: one line, "sha256:0-7 nonce=HEX"; activate: the
// credential file tpm2_makecredential wrote); once it is whole it runs,
// at write(2), so echo sees its error, and the answer (quote: one JSON
// object; activate: the secret) is read from the start, then end of
// file. A new request replaces the answer. So from a shell:
//
//	exec 3<>quote; echo "sha256:0-7 nonce=$N" >&3; cat <&3
//
// Nothing is kept past the close, and nothing of another open is seen.
type akTxn struct {
	f *akFile

	mu     sync.Mutex
	req    []byte // the request so far
	answer []byte // the last answer and how much of it was read
	read   int
}

var _ = (gofs.FileReader)((*akTxn)(nil))
var _ = (gofs.FileWriter)((*akTxn)(nil))
var _ = (gofs.FileReleaser)((*akTxn)(nil))

func (h *akTxn) fields(op string) logrus.Fields {
	fields := h.f.fields()
	fields["op"] = op
	return fields
}

// limit bounds a request.
func (h *akTxn) limit() int {
	if h.f.part == akQuote {
		return attest.MaxRequest
	}
	return attest.MaxCredential
}

func (h *akTxn) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.f.key.root
	if len(h.req) == 0 {
		h.setAnswer(nil) // a new transaction
	}
	if len(h.req)+len(data) > h.limit() {
		h.req = nil
		return 0, r.errno(ctx, fmt.Errorf("ak/%s/%s: %w: a request of more than %d bytes", h.f.key.name, h.f.part, errTooLarge, h.limit()), h.fields("request"))
	}
	h.req = append(h.req, data...)
	if e := h.runIfWhole(ctx); e != 0 {
		return 0, e
	}
	return uint32(len(data)), 0
}

// runIfWhole runs the request once it is whole: a quote's line with its
// newline, a credential file of the size its parts announce.
func (h *akTxn) runIfWhole(ctx context.Context) syscall.Errno {
	if h.f.part == akQuote {
		if i := bytes.IndexByte(h.req, '\n'); i >= 0 {
			if len(bytes.TrimSpace(h.req[i+1:])) > 0 {
				h.req = nil
				return h.f.key.root.errno(ctx, fmt.Errorf("ak/%s/quote: %w: one request per line, one line at a time", h.f.key.name, errInvalid), h.fields("quote"))
			}
			return h.run(ctx)
		}
		return 0
	}
	_, complete, err := attest.ParseCredential(h.req)
	if err != nil {
		h.req = nil
		return h.f.key.root.errno(ctx, fmt.Errorf("ak/%s/activate: %w: %w", h.f.key.name, errInvalid, err), h.fields("activate"))
	}
	if complete {
		return h.run(ctx)
	}
	return 0
}

// run takes the request and makes the answer.
func (h *akTxn) run(ctx context.Context) syscall.Errno {
	r := h.f.key.root
	req := h.req
	h.req = nil
	if h.f.part == akQuote {
		sel, nonce, err := attest.ParseRequest(string(req))
		if err != nil {
			return r.errno(ctx, fmt.Errorf("ak/%s/quote: %w: %w", h.f.key.name, errInvalid, err), h.fields("quote"))
		}
		q, err := r.aks.Quote(tpmContext(ctx), h.f.key.ref, sel, nonce)
		if err != nil {
			return r.errno(ctx, err, h.fields("quote"))
		}
		h.setAnswer(q.JSON())
		return 0
	}
	secret, err := r.aks.Activate(tpmContext(ctx), h.f.key.ref, req)
	if err != nil {
		return r.errno(ctx, err, h.fields("activate"))
	}
	h.setAnswer(secret)
	return 0
}

// setAnswer replaces the answer, wiping the old (a secret).
func (h *akTxn) setAnswer(b []byte) {
	clear(h.answer)
	h.answer, h.read = b, 0
}

// Read returns the rest of the answer. A quote request still without its
// newline (printf without \n) runs here; an incomplete credential is an
// error, not an empty answer.
func (h *akTxn) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.req) > 0 {
		if h.f.part != akQuote {
			h.req = nil
			return nil, h.f.key.root.errno(ctx, fmt.Errorf("ak/%s/activate: %w: the credential file is incomplete", h.f.key.name, errInvalid), h.fields("activate"))
		}
		if e := h.run(ctx); e != 0 {
			return nil, e
		}
	}
	n := copy(dest, h.answer[h.read:])
	h.read += n
	return fuse.ReadResultData(dest[:n]), 0
}

// Release wipes what the transaction held.
func (h *akTxn) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.req)
	h.req = nil
	h.setAnswer(nil)
	return 0
}
