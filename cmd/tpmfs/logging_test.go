package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/syslog"
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
	setupLogging(logrus.DebugLevel, "json", false)
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
	setupLogging(logrus.DebugLevel, "text", true)
	// Whether syslog is reachable, checked with the standard library.
	w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "tpmfs-test")
	if err != nil {
		if got := logrus.GetLevel(); got != logrus.WarnLevel {
			t.Errorf("without syslog, level %v, want warning", got)
		}
		return
	}
	w.Close()
	if logrus.StandardLogger().Out != io.Discard || len(logrus.StandardLogger().Hooks[logrus.InfoLevel]) != 1 {
		t.Errorf("with syslog, want the hook alone and no direct output")
	}
	if got := logrus.GetLevel(); got != logrus.DebugLevel {
		t.Errorf("with syslog, level %v, want debug", got)
	}
}
