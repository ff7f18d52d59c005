//go:build !linux

package fs

import "syscall"

// errNoData is an NV index never written: FreeBSD has no ENODATA, and
// its ENOATTR ("attribute not found") is the nearest.
const errNoData = syscall.ENOATTR
