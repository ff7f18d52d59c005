package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
)

// The contract's errno table, one row per kind of failure, each wrapped
// the way the layers below wrap them.
func TestMapErr(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("op: %w", err) }
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{wrap(errReadOnly), syscall.EROFS},
		{wrap(tpmcore.ErrInvalid), syscall.EINVAL},
		{wrap(sealstore.ErrInvalidName), syscall.EINVAL},
		{wrap(tpmcore.ErrTooLarge), syscall.EFBIG},
		{wrap(tpmcore.ErrNotAllowed), syscall.EPERM},
		{wrap(tpmcore.ErrPolicy), syscall.EACCES},
		{wrap(&tpmcore.PolicyError{}), syscall.EACCES},
		{wrap(tpmcore.ErrTooManyOpen), syscall.EMFILE},
		{wrap(tpmcore.ErrUnavailable), syscall.EIO},
		{wrap(tpmcore.ErrWrongTPM), syscall.EIO},
		{wrap(sealstore.ErrCorrupt), syscall.EIO},
		{wrap(tpm2.TPMRCFailure), syscall.EIO},
		{wrap(fs.ErrPermission), syscall.EIO},
		{errors.New("anything else"), syscall.EIO},
	}
	for _, c := range cases {
		if got := mapErr(c.err); got != c.want {
			t.Errorf("mapErr(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
