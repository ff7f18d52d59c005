package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
)

// Errors of the fs layer itself.
var (
	errReadOnly = errors.New("read-only mount")
	errInvalid  = tpmcore.ErrInvalid
	errTooLarge = tpmcore.ErrTooLarge
)

// errno maps err to the one errno the contract gives it, and logs it once
// with the fields that say what failed and for whom.
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

func mapErr(err error) syscall.Errno {
	switch {
	case errors.Is(err, errReadOnly):
		return syscall.EROFS
	case errors.Is(err, tpmcore.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, tpmcore.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, tpmcore.ErrNotAllowed):
		return syscall.EPERM
	case errors.Is(err, tpmcore.ErrPolicy):
		return syscall.EACCES
	case errors.Is(err, sealstore.ErrInvalidName):
		return syscall.EINVAL
	case errors.Is(err, tpmcore.ErrUnsupported):
		return syscall.EOPNOTSUPP
	case errors.Is(err, tpmcore.ErrBusy):
		return syscall.EBUSY
	case errors.Is(err, tpmcore.ErrTooManyOpen):
		// The caller's uid holds its rm_quota= of open tpmrm0 files.
		return syscall.EMFILE
	case errors.Is(err, tpmcore.ErrNotOwned):
		// Logged as a failure, with the message saying how to take
		// ownership: the administrator has to act.
		return syscall.EIO
	default:
		return syscall.EIO
	}
}
