package main

import (
	"io"
	"log/syslog"

	"github.com/sirupsen/logrus"
	lsyslog "github.com/sirupsen/logrus/hooks/syslog"
)

// setupLogging configures the standard logrus logger. In the foreground
// logs go to stderr. A daemon has no terminal, so it logs to syslog; when
// syslog is unavailable it keeps only warnings and errors on its stderr,
// which is /dev/null unless the caller redirected it.
func setupLogging(level logrus.Level, format string, daemon bool) {
	logrus.SetLevel(level)
	if format == "json" {
		logrus.SetFormatter(&logrus.JSONFormatter{})
	} else {
		// syslog stamps the time itself.
		logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: daemon, DisableColors: daemon})
	}
	if !daemon {
		return
	}
	hook, err := lsyslog.NewSyslogHook("", "", syslog.LOG_DAEMON|syslog.LOG_INFO, "tpmfs")
	if err != nil {
		if level > logrus.WarnLevel {
			logrus.SetLevel(logrus.WarnLevel)
		}
		return
	}
	logrus.AddHook(hook)
	logrus.SetOutput(io.Discard)
}
