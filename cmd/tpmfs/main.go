package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/sirupsen/logrus"

	"tpmfs/mountopts"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad command line or mount option
)

// main needs no care for closed fds 0-2 (as when started by some init
// systems): since Go 1.22 the runtime opens /dev/null on them before
// main, so no file tpmfs opens can land there. TestClosedStdFds checks.
func main() {
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	pipe, pipeErr := childPipe()
	daemon := pipe != nil || pipeErr != nil
	inv, err := parseArgs(argv)
	// A process that serves the mount hardens itself before anything
	// else; the parent that waits for a daemon serves nothing.
	serving := err == nil && !inv.Help && !inv.Version && (daemon || inv.Foreground)
	var hardenErr error
	if serving {
		hardenErr = hardenProcess()
	}
	var (
		sink   logSink
		logErr error
	)
	if err == nil {
		sink, logErr = setupLogging(inv.LogLevel, inv.LogFormat, inv.LogFile, daemon)
	} else {
		sink, _ = setupLogging(logrus.InfoLevel, "text", "", daemon)
	}
	if pipeErr != nil {
		logrus.Error(pipeErr) // no parent to tell
		return exitFailure
	}
	// fail reports err where the user will see it and returns code.
	fail := func(err error, code int) int {
		if pipe != nil {
			if !sink.stderr { // else the parent prints it; once is enough
				logrus.Error(err)
			}
			if perr := pipe.fail(err); perr != nil {
				logrus.Error(perr)
			}
			return code
		}
		fmt.Fprintf(os.Stderr, "tpmfs: %v\n", err)
		if _, ok := err.(usageError); ok {
			fmt.Fprintln(os.Stderr, "Try 'tpmfs --help' for more information.")
		}
		return code
	}
	switch {
	case err != nil:
		return fail(err, exitUsage)
	case inv.Help:
		fmt.Print(usage())
		return exitOK
	case inv.Version:
		fmt.Println(versionString())
		return exitOK
	case logErr != nil:
		return fail(logErr, exitFailure)
	case hardenErr != nil:
		return fail(hardenErr, exitFailure)
	}
	if serving {
		defer watchHangups(sink)()
	}
	cfg, mountpoint, err := configure(inv)
	if err != nil {
		return fail(err, exitUsage)
	}
	// Before any fork, so that the caller gets the reason at once.
	if err := checkMountPoint(mountpoint); err != nil {
		return fail(err, exitFailure)
	}
	if pipe == nil && !inv.Foreground {
		// Options were checked above, so a typo fails before any fork.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := daemonize(ctx, argv, mountpoint); err != nil {
			return fail(err, exitFailure)
		}
		return exitOK
	}
	if pipe != nil {
		// Do not keep the caller's working directory busy.
		if err := os.Chdir("/"); err != nil {
			return fail(fmt.Errorf("chdir /: %w", err), exitFailure)
		}
	}
	if err := mount(cfg, mountpoint, pipe); err != nil {
		return fail(err, exitFailure)
	}
	return exitOK
}

// configure parses the mount options, checks a premounted /dev/fd/N
// mount point and makes the mount point absolute.
func configure(inv *invocation) (*mountopts.Config, string, error) {
	cfg, err := mountopts.Parse(inv.Source, inv.Options)
	if err != nil {
		return nil, "", err
	}
	if err := checkPremounted(cfg, inv.MountPoint); err != nil {
		return nil, "", err
	}
	// The daemon leaves its working directory; resolve before.
	mountpoint, err := filepath.Abs(inv.MountPoint)
	if err != nil {
		return nil, "", fmt.Errorf("mount point %q: %w", inv.MountPoint, err)
	}
	return cfg, mountpoint, nil
}

// mount runs serve until a signal unmounts. pipe is the daemon child's
// report pipe, or nil in the foreground.
func mount(cfg *mountopts.Config, mountpoint string, pipe *readyPipe) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	notifySocket := os.Getenv("NOTIFY_SOCKET")
	context.AfterFunc(ctx, func() {
		if context.Cause(ctx) == context.Canceled {
			return // serve returned; not a signal
		}
		stop() // a second signal kills, should unmounting hang
		logrus.Infof("%v; unmounting %s", context.Cause(ctx), mountpoint)
		if err := sdNotify(notifySocket, "STOPPING=1"); err != nil {
			logrus.Warn(err)
		}
	})

	var (
		mu      sync.Mutex
		isReady bool
	)
	ready := func() error {
		mu.Lock()
		defer mu.Unlock()
		if isReady {
			return nil
		}
		isReady = true
		var errs []error
		if err := sdNotify(notifySocket, "READY=1"); err != nil {
			errs = append(errs, err)
		}
		if pipe != nil {
			errs = append(errs, pipe.ready())
			// The caller's stderr, kept until now so that it saw
			// fusermount's and the kernel's reasons for a failure.
			errs = append(errs, releaseStderr())
		}
		return errors.Join(errs...)
	}

	if err := serve(ctx, cfg, mountpoint, ready); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if !isReady {
		return errors.New("stopped before the mount was ready")
	}
	return nil
}
