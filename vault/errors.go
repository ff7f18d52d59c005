package vault

import (
	"errors"
	"io/fs"

	"tpmfs/sealstore"
)

var (
	// ErrStale: the object a handle was opened on was removed or
	// replaced by another of the same name.
	ErrStale = errors.New("sealed object was removed or replaced")
	// ErrNotFound: no object of that name.
	ErrNotFound = fs.ErrNotExist
	// ErrExists: an object of that name exists already.
	ErrExists = fs.ErrExist
	// ErrQuota: the owner's seal_quota= (objects or bytes) would be
	// exceeded, or the caller holds too much unsaved data.
	ErrQuota = errors.New("sealed-object quota exceeded")
	// ErrReadOnly: the mount is read-only.
	ErrReadOnly = errors.New("read-only mount")
	// ErrNotWritable: the part is derived from others (policy, status).
	ErrNotWritable = errors.New("read-only file")
	// ErrFixed: the part cannot change any more (authkey, once data is
	// sealed with it).
	ErrFixed = errors.New("fixed once data is sealed")
	// ErrInvalidName: see ValidName.
	ErrInvalidName = sealstore.ErrInvalidName
	// ErrDamaged: the object's state file cannot be trusted; it can only
	// be removed.
	ErrDamaged = sealstore.ErrCorrupt
)
