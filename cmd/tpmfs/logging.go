package main

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/sirupsen/logrus"
	lsyslog "github.com/sirupsen/logrus/hooks/syslog"
)

// logSink says where the log goes, once setupLogging has run.
type logSink struct {
	// file is --log-file's, reopened on SIGHUP; nil without one.
	file *logFile
	// stderr: the log goes to stderr, which a daemon has only until it
	// is ready (then /dev/null); its own errors then reach the user
	// through the parent alone, not twice.
	stderr bool
}

// setupLogging configures the standard logrus logger. With --log-file
// the log goes there, in the foreground and in the background alike.
// Otherwise the foreground logs to stderr, and a daemon, which has no
// terminal, to syslog; when there is no syslog it says so on stderr
// (still the caller's until the mount is ready) and keeps warnings and
// errors there, so that the caller sees why a start failed.
func setupLogging(level logrus.Level, format, path string, daemon bool) (logSink, error) {
	logrus.SetLevel(level)
	// syslog stamps the time itself; a file and a terminal need it.
	stamp := !daemon || path != ""
	if format == "json" {
		logrus.SetFormatter(&logrus.JSONFormatter{})
	} else {
		logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: !stamp, DisableColors: daemon || path != ""})
	}
	if path != "" {
		f, err := openLogFile(path)
		if err != nil {
			return logSink{stderr: true}, err
		}
		logrus.SetOutput(f)
		return logSink{file: f}, nil
	}
	if !daemon {
		return logSink{stderr: true}, nil
	}
	hook, err := lsyslog.NewSyslogHook("", "", syslog.LOG_DAEMON|syslog.LOG_INFO, "tpmfs")
	if err != nil {
		if level >= logrus.WarnLevel {
			// log/syslog's error ("Unix syslog delivery error") says
			// less than this.
			fmt.Fprintln(os.Stderr, "tpmfs: no syslog socket (/dev/log): the daemon's log is lost once it is in the background; use --log-file PATH, or -f")
		}
		if level > logrus.WarnLevel {
			logrus.SetLevel(logrus.WarnLevel)
		}
		return logSink{stderr: true}, nil
	}
	logrus.AddHook(hook)
	logrus.SetOutput(io.Discard)
	return logSink{}, nil
}

// logFile is an append-only log file that can be reopened under the same
// name, as logrotate expects after it renames the old one.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// openLogFile opens path for appending, creating it private to the
// daemon's user. The path is made absolute first: the daemon leaves its
// working directory before it reopens the file.
func openLogFile(path string) (*logFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("--log-file %s: %w", path, err)
	}
	l := &logFile{path: abs}
	if l.f, err = l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

// open opens the file; O_NONBLOCK only keeps a FIFO without a reader
// from hanging the daemon (it is then refused as not a regular file).
func (l *logFile) open() (*os.File, error) {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--log-file: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("--log-file %s: not a regular file", l.path)
	}
	return f, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens the path again and writes there from now on; the old
// file (renamed, say) is closed. On failure the old one stays in use.
func (l *logFile) Reopen() error {
	f, err := l.open()
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}
