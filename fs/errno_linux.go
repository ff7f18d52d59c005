package fs

import "syscall"

// errNoData is an NV index never written: read(2) says "No data
// available".
const errNoData = syscall.ENODATA
