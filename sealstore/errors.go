package sealstore

import "errors"

var (
	// ErrInvalidName: the name is not 1–64 characters of [A-Za-z0-9._-]
	// or starts with a dot.
	ErrInvalidName = errors.New("invalid object name")
	// ErrInvalidRecord: Save was given a record that could not be loaded
	// back (bad mode, selection, timestamps or sealed data).
	ErrInvalidRecord = errors.New("invalid record")
	// ErrCorrupt: a state file exists but cannot be trusted: unreadable
	// JSON, unknown version, missing or malformed fields, too large, a
	// name that differs from its file name, or not a regular file.
	ErrCorrupt = errors.New("corrupt state file")
	// ErrLocked: another process (or another Store) holds the state
	// directory.
	ErrLocked = errors.New("state directory in use")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store closed")
)

// ErrUnsafe: the state directory, a directory above it, or its lock file
// could be changed by someone other than root and tpmfs's own user.
var ErrUnsafe = errors.New("unsafe state directory")
