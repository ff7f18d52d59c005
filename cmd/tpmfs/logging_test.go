package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/syslog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
)

// saveLogger restores the standard logger after a test changes it.
func saveLogger(t *testing.T) {
	l := logrus.StandardLogger()
	out, level, formatter, hooks := l.Out, l.GetLevel(), l.Formatter, l.Hooks
	t.Cleanup(func() {
		l.SetOutput(out)
		l.SetLevel(level)
		l.SetFormatter(formatter)
		l.ReplaceHooks(hooks)
	})
}

func TestForegroundJSONLogging(t *testing.T) {
	saveLogger(t)
	if _, err := setupLogging(logrus.DebugLevel, "json", "", false); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logrus.SetOutput(&buf)
	logrus.Debug("hello")
	var entry map[string]any
	if err := json.Unmarshal(buf.Bytes(), &entry); err != nil {
		t.Fatalf("log line %q is not JSON: %v", buf.String(), err)
	}
	if entry["msg"] != "hello" || entry["level"] != "debug" {
		t.Errorf("log entry %v, want msg hello at level debug", entry)
	}
}

func TestDaemonLogging(t *testing.T) {
	saveLogger(t)
	logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
	sink, err := setupLogging(logrus.DebugLevel, "text", "", true)
	if err != nil {
		t.Fatal(err)
	}
	// Whether syslog is reachable, checked with the standard library.
	w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "tpmfs-test")
	if err != nil {
		if got := logrus.GetLevel(); got != logrus.WarnLevel || !sink.stderr {
			t.Errorf("without syslog, level %v, to stderr %v; want warning, to stderr", got, sink.stderr)
		}
		return
	}
	w.Close()
	if logrus.StandardLogger().Out != io.Discard || len(logrus.StandardLogger().Hooks[logrus.InfoLevel]) != 1 {
		t.Errorf("with syslog, want the hook alone and no direct output")
	}
	if got := logrus.GetLevel(); got != logrus.DebugLevel || sink.stderr {
		t.Errorf("with syslog, level %v, to stderr %v; want debug, not to stderr", got, sink.stderr)
	}
}

// TestLogFileReopen writes to a --log-file, renames it as logrotate
// does, reopens, and checks that each line went to the right file, both
// created private to the daemon.
func TestLogFileReopen(t *testing.T) {
	saveLogger(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tpmfs.log")
	sink, err := setupLogging(logrus.InfoLevel, "text", path, true)
	if err != nil {
		t.Fatal(err)
	}
	if sink.file == nil || sink.stderr {
		t.Fatalf("sink %+v, want the file", sink)
	}
	logrus.Info("before rotation")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	logrus.Info("still the old file")
	if err := sink.file.Reopen(); err != nil {
		t.Fatal(err)
	}
	logrus.Info("after rotation")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "before rotation") || !strings.Contains(string(old), "still the old file") || strings.Contains(string(old), "after rotation") {
		t.Errorf("rotated file: %q", old)
	}
	if !strings.Contains(string(cur), "after rotation") || strings.Contains(string(cur), "before") {
		t.Errorf("new file: %q", cur)
	}
	if !strings.Contains(string(cur), "time=") {
		t.Errorf("a log file needs time stamps: %q", cur)
	}
	for _, p := range []string{path, path + ".1"} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, st.Mode(), err)
		}
	}
}

func TestLogFileRefused(t *testing.T) {
	saveLogger(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing", "tpmfs.log"), dir, fifo} {
		if _, err := setupLogging(logrus.InfoLevel, "text", path, false); err == nil || !strings.Contains(err.Error(), "--log-file") {
			t.Errorf("--log-file %s: error %v, want one naming --log-file", path, err)
		}
	}
}
