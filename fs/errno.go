package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
	"tpmfs/vault"
)

// Errors of the fs layer itself.
var (
	errReadOnly = errors.New("read-only mount")
	errFixed    = errors.New("not removable or changeable through the mount")
	errInvalid  = tpmcore.ErrInvalid
	// errNotWritable: a file that only reads.
	errNotWritable = vault.ErrNotWritable
	errTooLarge    = tpmcore.ErrTooLarge
)

// errno maps err to the one errno the contract gives it, and logs it once
// with the fields that say what failed and for whom. Only errnos of the
// file-system protocol itself (ENOENT, EEXIST, EBADF) are returned
// without it.
func (r *Root) errno(ctx context.Context, err error, fields logrus.Fields) syscall.Errno {
	if err == nil {
		return 0
	}
	e := mapErr(err)
	entry := r.log.WithFields(fields).WithError(err).WithField("errno", e.Error())
	if caller, ok := fuse.FromContext(ctx); ok {
		entry = entry.WithField("uid", caller.Uid)
	}
	if rc, ok := tpmcore.RC(err); ok {
		entry = entry.WithField("rc", rc.Error())
	}
	switch {
	case e != syscall.EIO:
		entry.Info("operation refused")
	case errors.Is(err, tpmcore.ErrUnavailable):
		// tpmcore logs the TPM going away and coming back, once each;
		// an error line per request would flood the log of a long outage.
		entry.Debug("operation failed: TPM unavailable")
	default:
		entry.Error("operation failed")
	}
	return e
}

// errnoTable is the contract's errno for each kind of error, first match
// wins.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	{errReadOnly, syscall.EROFS},
	{vault.ErrReadOnly, syscall.EROFS},
	{errFixed, syscall.EPERM},
	{vault.ErrStale, syscall.ESTALE},
	{vault.ErrQuota, syscall.EDQUOT},
	{vault.ErrExists, syscall.EEXIST},
	{vault.ErrNotFound, syscall.ENOENT},
	{vault.ErrInvalidName, syscall.EINVAL},
	{vault.ErrNotWritable, syscall.EACCES},
	// authkey, once data is sealed with it.
	{vault.ErrFixed, syscall.EPERM},
	// An attestation key's type once the key exists.
	{vault.ErrKeyCreated, syscall.EPERM},
	// The state directory's own state, found before data is taken.
	{syscall.ENOSPC, syscall.ENOSPC},
	{syscall.EDQUOT, syscall.EDQUOT},
	{syscall.EROFS, syscall.EROFS},
	{tpmcore.ErrInvalid, syscall.EINVAL},
	{tpmcore.ErrTooLarge, syscall.EFBIG},
	{tpmcore.ErrNotAllowed, syscall.EPERM},
	{tpmcore.ErrPolicy, syscall.EACCES},
	// An NV index's auth value is not the empty one tpmfs uses; a
	// credential not made for this key and TPM.
	{tpmcore.ErrAuth, syscall.EACCES},
	{tpmcore.ErrNoData, errNoData},
	{tpmcore.ErrStale, syscall.ESTALE},
	{tpmcore.ErrNoSpace, syscall.ENOSPC},
	{tpmcore.ErrUnsupported, syscall.EOPNOTSUPP},
	{tpmcore.ErrBusy, syscall.EBUSY},
	{tpmcore.ErrResponseUnread, syscall.EBUSY},
	{tpmcore.ErrCommandTooLarge, syscall.E2BIG},
	// The caller's uid holds its rm_quota= of open tpmrm0 files.
	{tpmcore.ErrTooManyOpen, syscall.EMFILE},
	// Logged as a failure, with the message saying how to take
	// ownership: the administrator has to act.
	{tpmcore.ErrNotOwned, syscall.EIO},
}

func mapErr(err error) syscall.Errno {
	for _, m := range errnoTable {
		if errors.Is(err, m.err) {
			return m.errno
		}
	}
	return syscall.EIO
}
