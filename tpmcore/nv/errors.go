package nv

import "errors"

var (
	// ErrNoAuth: the index allows this access to nobody tpmfs can
	// authorise (only platform or policy authorisation, or locked).
	ErrNoAuth = errors.New("NV index does not allow this access with owner or empty auth")
	// ErrUnwritten: the index has never been written; it has no data.
	ErrUnwritten = errors.New("NV index not written yet")
	// ErrChanged: the index was undefined, or redefined with other
	// attributes, since it was opened.
	ErrChanged = errors.New("NV index was undefined or redefined")
	// ErrType: the operation does not fit the index's type.
	ErrType = errors.New("operation does not fit the NV index type")
	// ErrRange: an offset or size beyond the index.
	ErrRange = errors.New("beyond the NV index's size")
	// ErrNotIndex: a handle outside the NV index range.
	ErrNotIndex = errors.New("not an NV index handle")
)
