package vault

import (
	"context"
	"testing"

	"tpmfs/internal/faketpm"
	"tpmfs/sealstore"
)

var ctx = context.Background()

var (
	alice = Caller{UID: 1000, GID: 1000}
	bob   = Caller{UID: 1001, GID: 1001}
	root  = Caller{}
)

// openTestStore opens a store on a fresh state directory, closed when
// the test ends.
func openTestStore(t *testing.T) *sealstore.Store {
	t.Helper()
	store, err := sealstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// newVault opens a vault over a fresh state directory and a fake TPM.
func newVault(t *testing.T, opts Options) (*Vault, *faketpm.TPM, *sealstore.Store) {
	t.Helper()
	store := openTestStore(t)
	tpm := faketpm.New()
	v, err := New(store, tpm, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v, tpm, store
}

func mustCreate(t *testing.T, v *Vault, c Caller, name string) Info {
	t.Helper()
	info, err := v.Create(c, name, 0o700, c.GID)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	return info
}

// write opens part for writing, writes data in one piece and closes,
// like echo.
func write(t *testing.T, v *Vault, c Caller, ref Ref, part Part, data string) error {
	t.Helper()
	w, err := v.OpenWrite(ctx, c, ref, part)
	if err != nil {
		return err
	}
	if err := w.Truncate(); err != nil {
		return err
	}
	if err := w.WriteAt(ctx, []byte(data), 0); err != nil {
		w.Close(ctx)
		return err
	}
	if err := w.Flush(ctx); err != nil {
		w.Close(ctx)
		return err
	}
	return w.Close(ctx)
}

func read(t *testing.T, v *Vault, c Caller, ref Ref, part Part) (string, error) {
	t.Helper()
	r, err := v.OpenRead(ctx, c, ref, part)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := r.Bytes()
	return string(b), err
}

func mustRead(t *testing.T, v *Vault, c Caller, ref Ref, part Part) string {
	t.Helper()
	s, err := read(t, v, c, ref, part)
	if err != nil {
		t.Fatalf("read %s/%s: %v", ref.Name, part, err)
	}
	return s
}

func sealCount(tpm *faketpm.TPM) int {
	n, _, _ := tpm.Counts()
	return n
}
