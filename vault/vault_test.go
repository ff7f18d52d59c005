package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"tpmfs/internal/faketpm"
	"tpmfs/tpmcore"
)

// TestStaleHandles: a handle belongs to the object it was opened on. After
// rmdir and a new object of the same name, the old handles fail and never
// read or change the new one.
func TestStaleHandles(t *testing.T) {
	v, _, _ := newVault(t, Options{})
	old := mustCreate(t, v, bob, "k")
	r, err := v.OpenRead(ctx, bob, old.Ref, Data)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pw, err := v.OpenWrite(ctx, bob, old.Ref, PCRs)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Remove("k"); err != nil {
		t.Fatal(err)
	}
	now := mustCreate(t, v, alice, "k")
	if now.ID == old.ID || now.Ino == old.Ino {
		t.Fatalf("the new object has the old identity: %+v, %+v", now, old)
	}
	if err := write(t, v, alice, now.Ref, Data, "alice's secret"); err != nil {
		t.Fatal(err)
	}
	if b, err := r.Bytes(); !errors.Is(err, ErrStale) {
		t.Errorf("old reader: %q, %v; want ErrStale", b, err)
	}
	if _, err := v.OpenRead(ctx, bob, old.Ref, Data); !errors.Is(err, ErrStale) {
		t.Errorf("open by the old reference: %v; want ErrStale", err)
	}
	if _, err := v.Stat(old.Ref); !errors.Is(err, ErrStale) {
		t.Errorf("stat by the old reference: %v; want ErrStale", err)
	}
	if err := pw.WriteAt(ctx, []byte("sha256:16\n"), 0); !errors.Is(err, ErrStale) {
		t.Errorf("old pcrs writer's write: %v; want ErrStale", err)
	}
	pw.Close(ctx)
	// A writer that has its content already (O_TRUNC) fails at commit.
	pw, _ = v.OpenWrite(ctx, alice, now.Ref, PCRs)
	pw.Truncate()
	pw.WriteAt(ctx, []byte("sha256:16\n"), 0)
	v.Remove("k")
	again := mustCreate(t, v, alice, "k")
	if err := pw.Flush(ctx); !errors.Is(err, ErrStale) {
		t.Errorf("stale pcrs writer's commit: %v; want ErrStale", err)
	}
	pw.Close(ctx)
	if info, _ := v.Stat(again.Ref); info.Selection != "" {
		t.Errorf("a stale writer changed the new object: %+v", info)
	}
	now = again
	write(t, v, alice, now.Ref, Data, "alice's secret")
	info, _ := v.Stat(now.Ref)
	if info.Selection != "" || mustRead(t, v, alice, now.Ref, Data) != "alice's secret" {
		t.Errorf("the new object changed: %+v", info)
	}
}

// TestRedirectSealsOnce: a shell's `echo x > data` opens with O_TRUNC
// (a truncation without handle), closes a dup'd descriptor before
// writing (a flush), writes, and closes. Only the written content is ever
// sealed, once; readers meanwhile see the old secret.
func TestRedirectSealsOnce(t *testing.T) {
	v, tpm, _ := newVault(t, Options{})
	obj := mustCreate(t, v, alice, "k")
	if err := write(t, v, alice, obj.Ref, Data, "old"); err != nil {
		t.Fatal(err)
	}
	seals, _, _ := tpm.Counts()
	w, err := v.OpenWrite(ctx, alice, obj.Ref, Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Truncate(ctx, alice, obj.Ref, Data); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, v, bob, obj.Ref, Data); got != "old" || sealCount(tpm) != seals {
		t.Fatalf("after open(O_TRUNC) and an early flush: %q, %d seals; want the old secret, none", got, sealCount(tpm)-seals)
	}
	w.WriteAt(ctx, []byte("new\n"), 0)
	if got := mustRead(t, v, bob, obj.Ref, Data); got != "old" {
		t.Errorf("before the writer's close: %q", got)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, v, bob, obj.Ref, Data); got != "new\n" || sealCount(tpm) != seals+1 {
		t.Errorf("after close: %q, %d seals; want the new secret, one", got, sealCount(tpm)-seals)
	}
	// `: > data` empties it: a truncation, no write, then the close.
	w, _ = v.OpenWrite(ctx, alice, obj.Ref, Data)
	v.Truncate(ctx, alice, obj.Ref, Data)
	w.Flush(ctx)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, v, bob, obj.Ref, Data); got != "" {
		t.Errorf("after : > data: %q", got)
	}
	// truncate -s 0 with no writer open commits at once.
	write(t, v, alice, obj.Ref, Data, "again")
	if err := v.Truncate(ctx, alice, obj.Ref, Data); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, v, bob, obj.Ref, Data); got != "" {
		t.Errorf("after truncate -s 0: %q", got)
	}
}

// TestSelectionAllOrNothing: a typo or a second line in pcrs fails at
// write and changes neither selection, policy nor data.
func TestSelectionAllOrNothing(t *testing.T) {
	v, tpm, _ := newVault(t, Options{})
	obj := mustCreate(t, v, alice, "k")
	if err := write(t, v, alice, obj.Ref, PCRs, "sha256:0,7\n"); err != nil {
		t.Fatal(err)
	}
	write(t, v, alice, obj.Ref, Data, "secret")
	before, _ := v.Stat(obj.Ref)
	for _, lines := range [][]string{{"sha256:99\n"}, {"sha256:0\n", "sha256:7\n"}, {"sha256:\n"}, {"md5:1\n"}} {
		w, err := v.OpenWrite(ctx, alice, obj.Ref, PCRs)
		if err != nil {
			t.Fatal(err)
		}
		v.Truncate(ctx, alice, obj.Ref, PCRs)
		var werr error
		off := int64(0)
		for _, l := range lines {
			if werr = w.WriteAt(ctx, []byte(l), off); werr != nil {
				break
			}
			off += int64(len(l))
		}
		if !errors.Is(werr, tpmcore.ErrInvalid) {
			t.Errorf("writing %q: %v, want ErrInvalid", lines, werr)
		}
		w.Flush(ctx)
		w.Close(ctx)
		after, _ := v.Stat(obj.Ref)
		if after.Selection != before.Selection || string(after.Policy) != string(before.Policy) || !after.Modified.Equal(before.Modified) {
			t.Errorf("after %q: %+v, was %+v", lines, after, before)
		}
	}
	if got := mustRead(t, v, alice, obj.Ref, Data); got != "secret" {
		t.Errorf("data after refused selections: %q", got)
	}
	// A selection whose PCR moved cannot reseal: EACCES, nothing changes.
	tpm.Extend(ctx, tpm.DefaultBank(), 7, make([]byte, 32))
	if err := write(t, v, alice, obj.Ref, PCRs, "sha256:0\n"); !errors.Is(err, tpmcore.ErrPolicy) {
		t.Errorf("reseal under a failing policy: %v", err)
	}
	if after, _ := v.Stat(obj.Ref); after.Selection != "sha256:0,7" {
		t.Errorf("selection after a failed reseal: %q", after.Selection)
	}
}

// TestReadersShareOnePlaintext: many readers of one version hold one
// copy, wiped when the last closes.
func TestReadersShareOnePlaintext(t *testing.T) {
	v, tpm, _ := newVault(t, Options{})
	obj := mustCreate(t, v, alice, "k")
	write(t, v, alice, obj.Ref, Data, "shared secret")
	var readers []Reader
	for range 100 {
		r, err := v.OpenRead(ctx, alice, obj.Ref, Data)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	first, _ := readers[0].Bytes()
	last, _ := readers[99].Bytes()
	if &first[0] != &last[0] || len(v.plain) != 1 {
		t.Fatalf("readers hold separate copies (%d versions)", len(v.plain))
	}
	if _, u, _ := tpm.Counts(); u != 100 {
		t.Errorf("%d unseals for 100 opens: each open must pass the policy", u)
	}
	for _, r := range readers {
		r.Close()
	}
	if string(first) != string(make([]byte, len(first))) || len(v.plain) != 0 {
		t.Errorf("plaintext not wiped after the last close: %q", first)
	}
}

func TestQuotas(t *testing.T) {
	v, _, _ := newVault(t, Options{Quota: &Quota{Objects: 2, Bytes: 100}})
	a := mustCreate(t, v, alice, "a1")
	mustCreate(t, v, alice, "a2")
	if _, err := v.Create(alice, "a3", 0o700, 0); !errors.Is(err, ErrQuota) {
		t.Errorf("third object: %v, want ErrQuota", err)
	}
	mustCreate(t, v, bob, "b1")
	mustCreate(t, v, root, "r1")
	mustCreate(t, v, root, "r2")
	mustCreate(t, v, root, "r3")
	if err := write(t, v, alice, a.Ref, Data, string(make([]byte, 101))); !errors.Is(err, ErrQuota) {
		t.Errorf("101 bytes: %v, want ErrQuota", err)
	}
	if err := write(t, v, alice, a.Ref, Data, string(make([]byte, 60))); err != nil {
		t.Fatal(err)
	}
	a2, _ := v.Lookup("a2")
	if err := write(t, v, alice, a2.Ref, Data, string(make([]byte, 41))); !errors.Is(err, ErrQuota) {
		t.Errorf("60+41 bytes: %v, want ErrQuota", err)
	}
	// Unsaved data in open writers counts too: many descriptors do not
	// hold more than the quota.
	var ws []Writer
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		w, oerr := v.OpenWrite(ctx, alice, a2.Ref, Data)
		if oerr != nil {
			t.Fatal(oerr)
		}
		ws = append(ws, w)
		w.Truncate()
		err = w.WriteAt(ctx, make([]byte, 30), 0)
	}
	if !errors.Is(err, ErrQuota) || len(ws) > 4 {
		t.Errorf("writers held %d×30 bytes before %v", len(ws), err)
	}
	for _, w := range ws {
		w.Close(ctx)
	}
	if len(v.pending) != 0 {
		t.Errorf("pending bytes left after close: %v", v.pending)
	}
	// Removing makes room.
	v.Remove("a1")
	mustCreate(t, v, alice, "a3")
}

func TestDamagedObjectRemovable(t *testing.T) {
	v, _, store := newVault(t, Options{})
	obj := mustCreate(t, v, alice, "k")
	if err := os.WriteFile(filepath.Join(store.Dir(), "k.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := v.Lookup("k")
	if err != nil || info.Damaged == nil || info.UID != 0 || info.Mode != 0o700 {
		t.Fatalf("Lookup of a damaged object: %+v, %v", info, err)
	}
	if _, err := v.OpenRead(ctx, alice, obj.Ref, Data); !errors.Is(err, ErrDamaged) {
		t.Errorf("old handle on a damaged object: %v", err)
	}
	if _, err := v.OpenRead(ctx, root, info.Ref, Data); !errors.Is(err, ErrDamaged) {
		t.Errorf("reading a damaged object: %v, want ErrDamaged", err)
	}
	if err := v.Remove("k"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Lookup("k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after remove: %v", err)
	}
}

func TestEarlyChecks(t *testing.T) {
	v, tpm, _ := newVault(t, Options{})
	obj := mustCreate(t, v, alice, "k")
	tpm.Fail(faketpm.OpReady, fmt.Errorf("%w: no owner", tpmcore.ErrNotOwned))
	if _, err := v.OpenWrite(ctx, alice, obj.Ref, Data); !errors.Is(err, tpmcore.ErrNotOwned) {
		t.Errorf("open for writing on a TPM that cannot seal: %v", err)
	}
	tpm.Fail(faketpm.OpReady, nil)
	if _, err := v.OpenWrite(ctx, alice, obj.Ref, Policy); err == nil {
		t.Error("policy opened for writing")
	}
	// A seal that fails at commit keeps the old secret.
	write(t, v, alice, obj.Ref, Data, "old")
	tpm.Fail(faketpm.OpSeal, faketpm.ErrInjected)
	if err := write(t, v, alice, obj.Ref, Data, "new"); !errors.Is(err, faketpm.ErrInjected) {
		t.Errorf("failed seal: %v", err)
	}
	tpm.Fail(faketpm.OpSeal, nil)
	if got := mustRead(t, v, alice, obj.Ref, Data); got != "old" {
		t.Errorf("after a failed seal: %q", got)
	}
	ro, _, _ := newVault(t, Options{ReadOnly: true})
	if _, err := ro.Create(alice, "x", 0o700, 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("create on a read-only vault: %v", err)
	}
}

// TestWriteInPlace: a writer opened without O_TRUNC changes the current
// content at its offsets.
func TestWriteInPlace(t *testing.T) {
	v, _, _ := newVault(t, Options{})
	obj := mustCreate(t, v, alice, "k")
	write(t, v, alice, obj.Ref, Data, "hello world")
	w, _ := v.OpenWrite(ctx, alice, obj.Ref, Data)
	w.WriteAt(ctx, []byte("WORLD"), 6)
	w.WriteAt(ctx, []byte("!"), 13)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, v, alice, obj.Ref, Data); got != "hello WORLD\x00\x00!" {
		t.Errorf("in-place write: %q", got)
	}
}

// TestConcurrentWritersAndReaders: readers never see anything but a whole
// version.
func TestConcurrentWritersAndReaders(t *testing.T) {
	v, _, _ := newVault(t, Options{})
	obj := mustCreate(t, v, alice, "k")
	versions := map[string]bool{"": true}
	for i := range 5 {
		versions[fmt.Sprintf("version %d of the secret\n", i)] = true
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				write(t, v, alice, obj.Ref, Data, fmt.Sprintf("version %d of the secret\n", i))
			}
		}()
	}
	errs := make(chan string, 100)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got, err := read(t, v, bob, obj.Ref, Data); err != nil || !versions[got] {
					errs <- fmt.Sprintf("%q, %v", got, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error("reader saw", e)
	}
}
