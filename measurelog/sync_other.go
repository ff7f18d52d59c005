//go:build !linux

package measurelog

import "os"

// syncData makes f's data durable (fsync where fdatasync is not had).
func syncData(f *os.File) error { return f.Sync() }
