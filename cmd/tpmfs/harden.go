package main

import (
	"os/signal"
	"syscall"
)

// hardenProcess is done first by every process that serves a mount: it
// holds unsealed secrets and keys in memory.
//   - Not dumpable (Linux): no core dump, and no ptrace or /proc/PID/mem
//     by processes of the same user.
//   - umask 077: whatever it creates (state files, the log file) is the
//     daemon's alone, whatever mode a call asks for.
//   - SIGPIPE ignored: a log reader that goes away (a pipe on stderr, a
//     restarted journald) must not end the daemon and leave a dead mount.
func hardenProcess() error {
	syscall.Umask(0o077)
	signal.Ignore(syscall.SIGPIPE)
	return setNotDumpable()
}
