package main

import (
	"strconv"
	"strings"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"tpmfs/mountopts"
)

// fuseFD returns N when mountpoint is libfuse's "/dev/fd/N": a /dev/fuse
// descriptor that the caller has mounted already (mount.fuse3 does so with
// -o drop_privileges, then starts tpmfs without privileges).
func fuseFD(mountpoint string) (int, bool) {
	num, ok := strings.CutPrefix(mountpoint, "/dev/fd/")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n > 0
}

// checkPremounted refuses a premounted /dev/fd/N whose mount lacks
// default_permissions. tpmfs relies on the kernel to enforce its file
// modes, and only that option turns the checks on; without it every
// user let in could extend PCRs and read others' secrets. tpmfs cannot
// see the options of a mount it did not make, but mount.fuse3 mounts
// with the same -o list it passes on, so the list must name the option.
func checkPremounted(cfg *mountopts.Config, mountpoint string) error {
	if _, ok := fuseFD(mountpoint); !ok || cfg.DefaultPermissions {
		return nil
	}
	return usagef("mount point %s was mounted by the caller without default_permissions, "+
		"so the kernel would not enforce tpmfs's file modes; add -o default_permissions", mountpoint)
}

// adaptMountOptions fits the mount to how tpmfs was called: a premounted
// /dev/fd/N must not be mounted again (mount(2) on that path would mount
// over /dev/fuse itself), and noexec from fstab is honoured. nosuid and
// nodev are always set, whatever mount.fuse3 adds (it passes dev,suid).
func adaptMountOptions(o *gofs.Options, cfg *mountopts.Config, mountpoint string) {
	if _, ok := fuseFD(mountpoint); ok {
		o.DirectMount = false
	}
	if cfg.NoExec {
		o.Options = append(o.Options, "noexec")
	}
}
