package main

import (
	"slices"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"tpmfs/mountopts"
)

func TestFuseFD(t *testing.T) {
	for mp, want := range map[string]int{
		"/dev/fd/3": 3, "/dev/fd/17": 17, "/dev/fd/0": -1, "/dev/fd/x": -1, "/dev/fd/": -1,
		"/var/tpm": -1, "/dev/fd/3/x": -1, "dev/fd/3": -1,
	} {
		n, ok := fuseFD(mp)
		if ok != (want > 0) || (ok && n != want) {
			t.Errorf("fuseFD(%q) = %d, %v; want %d", mp, n, ok, want)
		}
	}
}

func TestCheckPremounted(t *testing.T) {
	for _, c := range []struct {
		mountpoint string
		opts       string
		ok         bool
	}{
		{"/var/tpm", "allow_other", true},
		{"/dev/fd/3", "allow_other,default_permissions", true},
		{"/dev/fd/3", "allow_other", false},
		{"/dev/fd/3", "", false},
	} {
		cfg, err := mountopts.Parse("sim:", []string{c.opts})
		if err != nil {
			t.Fatal(err)
		}
		err = checkPremounted(cfg, c.mountpoint)
		if (err == nil) != c.ok {
			t.Errorf("%s -o %s: %v, want ok=%v", c.mountpoint, c.opts, err, c.ok)
		}
		if _, usage := err.(usageError); err != nil && !usage {
			t.Errorf("%s -o %s: %T is not a usage error", c.mountpoint, c.opts, err)
		}
	}
}

func TestAdaptMountOptions(t *testing.T) {
	for _, c := range []struct {
		mountpoint, opts string
		direct, noexec   bool
	}{
		{"/var/tpm", "rw,dev,suid", true, false},
		{"/var/tpm", "noexec", true, true},
		{"/var/tpm", "noexec,exec", true, false},
		{"/var/tpm", "exec,noexec", true, true},
		{"/dev/fd/4", "default_permissions,noexec", false, true},
	} {
		cfg, err := mountopts.Parse("sim:", []string{c.opts})
		if err != nil {
			t.Fatal(err)
		}
		o := &gofs.Options{MountOptions: fuse.MountOptions{DirectMount: true, Options: []string{"default_permissions"}}}
		adaptMountOptions(o, cfg, c.mountpoint)
		if o.DirectMount != c.direct || slices.Contains(o.Options, "noexec") != c.noexec {
			t.Errorf("%s -o %s: direct %v options %v; want direct %v noexec %v", c.mountpoint, c.opts, o.DirectMount, o.Options, c.direct, c.noexec)
		}
		for _, o := range o.Options {
			if o == "dev" || o == "suid" || o == "exec" {
				t.Errorf("%s -o %s: %s passed to the mount", c.mountpoint, c.opts, o)
			}
		}
	}
}
