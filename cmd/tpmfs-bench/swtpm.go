//go:build linux

package main

import (
	"os"
	"time"

	"tpmfs/internal/swtpmtest"
)

// startSwtpm starts a TPM 2.0 swtpm on a free port pair, its state and
// output in dir, and waits until it listens; stop it with Stop.
func startSwtpm(dir string) (*swtpmtest.Swtpm, error) {
	return swtpmtest.Launch(swtpmtest.Options{}, dir)
}

// endProcess ends a process this program started: SIGTERM, then SIGKILL
// after 5 s; done closes once it is reaped.
func endProcess(p *os.Process, done <-chan struct{}) {
	if swtpmtest.EndProcess(p, done, 5*time.Second) != nil {
		<-done
	}
}
