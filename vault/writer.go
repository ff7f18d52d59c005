package vault

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsig"
)

// writer is a Writer. Its buffer is private: nothing of it reaches the
// object or its readers before a commit.
type writer struct {
	v    *Vault
	c    Caller
	ref  Ref
	part Part

	mu      sync.Mutex
	buf     []byte
	based   bool  // buf starts from a base: the current content, or empty after a truncate
	touched bool  // written or truncated: no longer fresh
	wrote   bool  // bytes written since the last commit
	dirty   bool  // changes not committed yet
	failed  error // a refused write or commit: never commit
	charged int64 // bytes counted against c in v.pending
	closed  bool
}

// OpenWrite opens part of ref's object for writing, after the checks that
// can be made before any data is taken: a writable mount, the object
// still there, a state directory with room, and a TPM that can seal.
func (v *Vault) OpenWrite(ctx context.Context, c Caller, ref Ref, part Part) (Writer, error) {
	if !part.Writable() {
		return nil, fmt.Errorf("%s/%s: %w: it is derived from the other files", ref.Name, part, ErrNotWritable)
	}
	if v.opts.ReadOnly {
		return nil, fmt.Errorf("%s/%s: %w", ref.Name, part, ErrReadOnly)
	}
	if ref.ID == "" {
		return nil, fmt.Errorf("%s: %w: it can only be removed", ref.Name, ErrDamaged)
	}
	rec, err := v.loadRef(ref)
	if err != nil {
		return nil, err
	}
	if err := v.store.CheckRoom(sealstore.EncodedSize(int(secretSize(rec)))); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", ref.Name, part, err)
	}
	if err := v.checkSigned(rec, part); err != nil {
		return nil, err
	}
	if part == Data || (part == PCRs && rec.Sealed != nil) {
		if err := v.tpm.SealReady(ctx); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", ref.Name, part, err)
		}
	}
	w := &writer{v: v, c: c, ref: ref, part: part}
	v.mu.Lock()
	v.writers[w] = true
	v.mu.Unlock()
	return w, nil
}

// Truncate empties part of ref's object for a truncation that came
// without a file handle: open(O_TRUNC) sends its truncation after the
// open, so it applies to the writers of that part that have not written
// yet. With none (truncate -s 0 on a closed file) the empty content is
// committed at once.
func (v *Vault) Truncate(ctx context.Context, c Caller, ref Ref, part Part) error {
	v.mu.Lock()
	var fresh []*writer
	for w := range v.writers {
		if w.ref == ref && w.part == part {
			fresh = append(fresh, w)
		}
	}
	v.mu.Unlock()
	n := 0
	for _, w := range fresh {
		if w.truncateIfFresh() {
			n++
		}
	}
	if n > 0 {
		return nil
	}
	w, err := v.OpenWrite(ctx, c, ref, part)
	if err != nil {
		return err
	}
	if err := w.Truncate(); err != nil {
		w.Close(ctx)
		return err
	}
	return w.Close(ctx)
}

func (w *writer) Fresh() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.touched
}

func (w *writer) truncateIfFresh() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.touched || w.closed || w.failed != nil {
		return false
	}
	w.truncateLocked()
	return true
}

func (w *writer) Truncate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fs.ErrClosed
	}
	if w.failed != nil {
		return w.failed
	}
	w.truncateLocked()
	return nil
}

func (w *writer) truncateLocked() {
	wipe(w.buf)
	w.buf = w.buf[:0]
	w.based, w.touched, w.dirty = true, true, true
}

// fail marks the writer failed: what it holds is never committed.
func (w *writer) fail(err error) error {
	w.failed = err
	return err
}

func (w *writer) limit() int {
	switch w.part {
	case Data:
		return MaxSecret
	case AuthKey:
		return pcrsig.MaxKeyText
	case PCRSig:
		return pcrsig.MaxText
	}
	return maxSelectionText
}

func (w *writer) WriteAt(ctx context.Context, data []byte, off int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fs.ErrClosed
	}
	if w.failed != nil {
		return w.failed
	}
	name := w.ref.Name + "/" + w.part.String()
	end := off + int64(len(data))
	if off < 0 || end > int64(w.limit()) {
		return w.fail(fmt.Errorf("write %s: %w: more than %d bytes", name, tpmcore.ErrTooLarge, w.limit()))
	}
	if err := w.base(ctx); err != nil {
		return w.fail(err)
	}
	size := max(int64(len(w.buf)), end)
	if w.part == Data {
		if err := w.v.checkBytes(w.ref.Name, size); err != nil {
			return w.fail(fmt.Errorf("write %s: %w", name, err))
		}
	}
	if err := w.v.store.CheckRoom(sealstore.EncodedSize(int(size))); err != nil {
		return w.fail(fmt.Errorf("write %s: %w", name, err))
	}
	if size > w.charged {
		if err := w.v.charge(w.c, size-w.charged); err != nil {
			return w.fail(fmt.Errorf("write %s: %w", name, err))
		}
		w.charged = size
	}
	w.buf = place(w.buf, data, off)
	w.touched, w.wrote, w.dirty = true, true, true
	// What is whole already is checked now, so that echo sees a typo as a
	// write error (shells ignore close's). Nothing is applied before the
	// commit.
	var err error
	switch w.part {
	case PCRs:
		if strings.Contains(string(w.buf), "\n") {
			_, err = w.selection()
		}
	case AuthKey:
		_, err = w.authKey(false)
	case PCRSig:
		_, err = w.signatures(false)
	}
	if err != nil {
		return w.fail(fmt.Errorf("write %s: %w", name, err))
	}
	return nil
}

// base loads the current content into buf before the first write of a
// writer opened without O_TRUNC, which changes it in place.
func (w *writer) base(ctx context.Context) error {
	if w.based {
		return nil
	}
	r, err := w.v.OpenRead(ctx, w.c, w.ref, w.part)
	if err != nil {
		return err
	}
	defer r.Close()
	cur, err := r.Bytes()
	if err != nil {
		return err
	}
	if err := w.v.charge(w.c, int64(len(cur))-w.charged); err != nil {
		return err
	}
	w.charged = int64(len(cur))
	w.buf = append(w.buf[:0], cur...)
	w.based = true
	return nil
}

// place writes data at off in buf, growing it with zeros over a hole as a
// file does; an outgrown array is wiped, so no copy of a secret is left
// for the garbage collector.
func place(buf, data []byte, off int64) []byte {
	end := int(off) + len(data)
	if end > cap(buf) {
		grown := make([]byte, end, max(end, 2*cap(buf)))
		copy(grown, buf)
		wipe(buf[:cap(buf)])
		buf = grown
	} else if old := len(buf); end > old {
		buf = buf[:end]
		clear(buf[old:])
	}
	copy(buf[off:], data)
	return buf
}

// selection parses the written pcrs: one line, a tpm2-tools selection
// whose PCRs may carry given values.
func (w *writer) selection() (tpmcore.Spec, error) {
	text := strings.TrimRight(string(w.buf), " \t\r\n")
	if strings.ContainsAny(text, "\n") {
		return tpmcore.Spec{}, fmt.Errorf("%w: pcrs takes one line", tpmcore.ErrInvalid)
	}
	return w.v.tpm.ParseSpec(strings.TrimSpace(text))
}

func (w *writer) Bytes(ctx context.Context) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, fs.ErrClosed
	}
	if err := w.base(ctx); err != nil {
		return nil, err
	}
	return w.buf, nil
}

func (w *writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.failed != nil || !w.wrote {
		return nil
	}
	return w.commit(ctx)
}

func (w *writer) Close(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	var err error
	if w.dirty && w.failed == nil {
		err = w.commit(ctx)
	}
	w.closed = true
	wipe(w.buf[:cap(w.buf)])
	w.buf = nil
	w.v.charge(w.c, -w.charged)
	w.charged = 0
	w.v.mu.Lock()
	delete(w.v.writers, w)
	w.v.mu.Unlock()
	return err
}

// commit replaces the part's content with buf, whole: seal (data) or
// reseal (pcrs), then one atomic save. On any error the object is as it
// was, and the writer is failed.
func (w *writer) commit(ctx context.Context) error {
	v := w.v
	unlock := v.names.lock(w.ref.Name)
	defer unlock()
	rec, err := v.loadRef(w.ref)
	if err != nil {
		return w.fail(err)
	}
	name := w.ref.Name
	switch w.part {
	case Data:
		if err := v.checkBytes(name, int64(len(w.buf))); err != nil {
			return w.fail(fmt.Errorf("seal %s: %w", name, err))
		}
		b, err := v.binding(rec)
		if err != nil {
			return w.fail(err)
		}
		sealed, err := v.tpm.Seal(ctx, name, b, w.buf)
		if err != nil {
			return w.fail(err)
		}
		rec.Sealed = sealed
	case PCRs:
		spec, err := w.selection()
		if err != nil {
			return w.fail(fmt.Errorf("%s/pcrs: %w", name, err))
		}
		if rec.Sealed != nil {
			b, err := v.binding(rec)
			if err != nil {
				return w.fail(err)
			}
			b.PCRs = spec
			sealed, err := v.tpm.Reseal(ctx, name, rec.Sealed, rec.Signatures, b)
			if err != nil {
				return w.fail(err)
			}
			rec.Sealed = sealed
		}
		rec.Selection = spec.String()
	case AuthKey:
		key, err := w.authKey(true)
		if err != nil {
			return w.fail(fmt.Errorf("%s/authkey: %w", name, err))
		}
		var der []byte
		if key != nil {
			der = key.DER
		}
		if bytes.Equal(der, rec.AuthKey) {
			w.wrote, w.dirty = false, false // the same key again: nothing changes
			return nil
		}
		// Signatures by another key than the new one cannot stay.
		rec.AuthKey, rec.Signatures = der, nil
	case PCRSig:
		set, err := w.signatures(true)
		if err != nil {
			return w.fail(fmt.Errorf("%s/pcrsig: %w", name, err))
		}
		rec.Signatures = set
	}
	rec.Modified = time.Now().UTC()
	if err := v.store.Save(rec); err != nil {
		return w.fail(err)
	}
	v.mu.Lock()
	v.index[name] = &entry{id: rec.ID, uid: rec.UID, size: secretSize(rec)}
	v.mu.Unlock()
	w.wrote, w.dirty = false, false
	return nil
}
