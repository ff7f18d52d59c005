package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tpmcore"
	"tpmfs/vault"
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
		{wrap(vault.ErrInvalidName), syscall.EINVAL},
		{wrap(vault.ErrStale), syscall.ESTALE},
		{wrap(vault.ErrQuota), syscall.EDQUOT},
		{wrap(vault.ErrReadOnly), syscall.EROFS},
		{wrap(vault.ErrNotWritable), syscall.EACCES},
		{wrap(errFixed), syscall.EPERM},
		{wrap(vault.ErrFixed), syscall.EPERM},
		{wrap(syscall.ENOSPC), syscall.ENOSPC},
		{wrap(syscall.EROFS), syscall.EROFS},
		{wrap(tpmcore.ErrCommandTooLarge), syscall.E2BIG},
		{wrap(tpmcore.ErrResponseUnread), syscall.EBUSY},
		{wrap(tpmcore.ErrNotOwned), syscall.EIO},
		{wrap(syscall.EACCES), syscall.EIO},
		{wrap(tpmcore.ErrTooLarge), syscall.EFBIG},
		{wrap(tpmcore.ErrNotAllowed), syscall.EPERM},
		{wrap(tpmcore.ErrPolicy), syscall.EACCES},
		{wrap(&tpmcore.PolicyError{}), syscall.EACCES},
		{wrap(tpmcore.ErrTooManyOpen), syscall.EMFILE},
		{wrap(tpmcore.ErrUnavailable), syscall.EIO},
		{wrap(tpmcore.ErrWrongTPM), syscall.EIO},
		{wrap(vault.ErrDamaged), syscall.EIO},
		{wrap(tpm2.TPMRCFailure), syscall.EIO},
		{wrap(fs.ErrPermission), syscall.EIO},
		{wrap(vault.ErrKeyCreated), syscall.EPERM},
		{wrap(tpmcore.ErrAuth), syscall.EACCES},
		{wrap(tpmcore.ErrNoData), syscall.ENODATA},
		{wrap(tpmcore.ErrStale), syscall.ESTALE},
		{wrap(tpmcore.ErrNoSpace), syscall.ENOSPC},
		{wrap(tpmcore.ErrNotFound), syscall.ENOENT},
		{wrap(tpmcore.ErrExists), syscall.EEXIST},
		{wrap(tpmcore.ErrUnsupported), syscall.EOPNOTSUPP},
		{errors.New("anything else"), syscall.EIO},
	}
	for _, c := range cases {
		if got := mapErr(c.err); got != c.want {
			t.Errorf("mapErr(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
