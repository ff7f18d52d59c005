package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
)

// watchHangups makes SIGHUP harmless to a serving tpmfs: by default it
// would end the process and leave a dead mount behind. A hangup reopens
// the log file, as logrotate expects after renaming it, and is otherwise
// only logged. Call it as early as possible; stop ends the watch.
func watchHangups(sink logSink) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if sink.file == nil {
					logrus.Info("SIGHUP: nothing to reload (no --log-file)")
					continue
				}
				if err := sink.file.Reopen(); err != nil {
					logrus.WithError(err).Error("SIGHUP: reopening the log file failed; still writing to the old one")
					continue
				}
				logrus.WithField("path", sink.file.path).Info("SIGHUP: log file reopened")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
