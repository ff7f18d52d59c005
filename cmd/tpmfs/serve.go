package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	tfs "tpmfs/fs"
	"tpmfs/measurelog"
	"tpmfs/mountopts"
	"tpmfs/sealstore"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
	"tpmfs/tpmcore"
	"tpmfs/vault"
)

// serve opens the TPM, mounts the tree and blocks until the file system is
// unmounted (umount, or ctx ends: then it unmounts). ready is called once
// the mount is visible.
func serve(ctx context.Context, cfg *mountopts.Config, mountpoint string, ready func() error) error {
	defer startProfile()()
	log := logrus.WithFields(logrus.Fields{"source": cfg.Source, "mountpoint": mountpoint})
	ownerAuth, err := readSRKAuth(cfg.SRKAuth)
	if err != nil {
		return err
	}
	if cfg.TPM.Kind == source.Sim {
		log.Warn("using the in-process TPM simulator; it is for trying out and tests only, never for secrets")
	}
	raw, err := rawRules(cfg)
	if err != nil {
		return err
	}
	core, err := tpmcore.New(func() (tddl.TPM, error) { return tddl.Open(cfg.TPM) }, tpmcore.Options{
		Source:    cfg.Source,
		OwnerAuth: ownerAuth,
		RawRules:  raw,
		Log:       log,
	})
	if err != nil {
		return err
	}
	defer core.Close()

	store, err := sealstore.Open(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("state directory (state=): %w", err)
	}
	defer store.Close()

	var quota *vault.Quota
	if q := cfg.SealQuota; q != nil {
		quota = &vault.Quota{Objects: q.Objects, Bytes: q.Bytes}
	}
	objects, err := vault.New(store, core, vault.Options{ReadOnly: cfg.ReadOnly, Quota: quota, Log: log})
	if err != nil {
		return fmt.Errorf("state directory (state=): %w", err)
	}
	kernelDir, tpmIndex := cfg.KernelLogDir()
	logs, err := measurelog.New(ctx, core, store, measurelog.Options{KernelDir: kernelDir, TPMIndex: tpmIndex, Log: log})
	if err != nil {
		return fmt.Errorf("event log in the state directory (state=): %w", err)
	}
	defer logs.Close()
	backend := tfs.Backend{
		TPM:     core,
		OpenRaw: func(uid uint32) (tfs.RawClient, error) { return core.NewClient(uid) },
		Objects: objects,
		Logs:    logs,
	}
	if err := core.Attestation(); err != nil {
		log.WithError(err).Debug("no ek/, ak/ or nv/")
	} else {
		backend.EK, backend.NV, backend.AKs = core, core, objects.AKs(core)
	}
	root, err := tfs.New(backend, tfs.Options{
		ReadOnly:   cfg.ReadOnly,
		UID:        cfg.UID,
		GID:        cfg.GID,
		PCRMode:    cfg.PCRMode,
		RandomMode: cfg.RandomMode,
		SealMode:   cfg.SealMode,
		DeviceMode: cfg.DeviceMode,
		EKMode:     cfg.EKMode,
		AKMode:     cfg.AKMode,
		NVMode:     cfg.NVMode,
		LogMode:    cfg.LogMode,
		Bank:       cfg.Bank,
		Log:        log,
	})
	if err != nil {
		return err
	}
	mo := mountOptions(cfg)
	adaptMountOptions(mo, cfg, mountpoint)
	server, err := gofs.Mount(mountpoint, root, mo)
	if err != nil {
		if msg := strings.TrimSpace(err.Error()); strings.HasPrefix(msg, "fusermount") {
			// go-fuse has only the exit status; fusermount3 wrote its
			// reason to stderr, which the caller has until the mount
			// is ready.
			return fmt.Errorf("mount %s: %s (fusermount3's message above says why)", mountpoint, msg)
		}
		return fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	log.WithField("banks", core.Info().Banks).Info("mounted")

	if err := ready(); err != nil {
		log.WithError(err).Warn("readiness notification failed")
	}
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	select {
	case <-done:
		log.Info("unmounted")
		return nil
	case <-ctx.Done():
	}
	if err := unmount(server, mountpoint, done); err != nil {
		return err
	}
	log.Info("unmounted")
	return nil
}

// readSRKAuth reads srk_auth=file:PATH as raw bytes, as tpm2-tools reads
// file: secrets; nil is the well-known secret.
func readSRKAuth(a mountopts.SRKAuth) ([]byte, error) {
	if a.WellKnown || a.File == "" {
		return nil, nil
	}
	b, err := os.ReadFile(a.File)
	if err != nil {
		return nil, fmt.Errorf("srk_auth=file:%s: %w", a.File, err)
	}
	return b, nil
}

// unmount retries while the mount is busy, then detaches it lazily so a
// signal always ends the daemon without leaving a dead mount behind.
func unmount(server *fuse.Server, mountpoint string, done <-chan struct{}) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = server.Unmount(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		logrus.WithError(err).WithField("mountpoint", mountpoint).Warn("mount busy; detaching it lazily")
		if derr := detach(mountpoint); derr != nil {
			return fmt.Errorf("unmount %s: %w", mountpoint, errors.Join(err, derr))
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return nil
}

func mountOptions(cfg *mountopts.Config) *gofs.Options {
	// Attributes of fixed files never change; values are read through
	// direct I/O, so caching attributes and entries is always correct.
	attr, entry := time.Second, time.Second
	mo := fuse.MountOptions{
		AllowOther:    cfg.AllowOther,
		FsName:        cfg.FSName,
		Name:          cfg.Subtype,
		DisableXAttrs: true,
		// Every read answers from memory (ReadResultData); go-fuse would
		// still try splice first and spend three syscalls finding out.
		DisableSplice: true,
		// Root mounts with mount(2) itself; others go through fusermount3.
		DirectMount: os.Geteuid() == 0,
		Options:     []string{"default_permissions"},
	}
	if logrus.IsLevelEnabled(logrus.TraceLevel) {
		// Every FUSE request and reply, through the daemon's log, with
		// file contents removed: how round trips per operation are
		// counted (tpmfs-bench).
		mo.Debug = true
		mo.Logger = log.New(fuseTrace{}, "fuse: ", 0)
	}
	if cfg.ReadOnly {
		mo.Options = append(mo.Options, "ro")
		mo.DirectMountFlags = readOnlyMountFlags
	}
	// NullPermissions: a mode of 0000 (chmod 000 on a sealed object) is
	// shown as it is; without it go-fuse shows 0644 (0755 for a
	// directory), which the kernel would then enforce.
	return &gofs.Options{MountOptions: mo, AttrTimeout: &attr, EntryTimeout: &entry, NullPermissions: true}
}
