//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The benchmark mounts with go-fuse and reads /proc: Linux only.
func main() {
	fmt.Fprintln(os.Stderr, "tpmfs-bench: runs on Linux only")
	os.Exit(1)
}
