package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestParseArgs(t *testing.T) {
	base := func(mod func(*invocation)) *invocation {
		inv := &invocation{Source: "auto", MountPoint: "/mnt", LogLevel: logrus.InfoLevel, LogFormat: "text"}
		mod(inv)
		return inv
	}
	tests := []struct {
		argv []string
		want *invocation
	}{
		{[]string{"auto", "/mnt"}, base(func(*invocation) {})},
		// The form mount.fuse3 uses.
		{[]string{"auto", "/mnt", "-o", "rw,allow_other,dev,suid"}, base(func(i *invocation) { i.Options = []string{"rw,allow_other,dev,suid"} })},
		{[]string{"-o", "ro", "auto", "-o", "uid=1", "/mnt", "-o", "gid=2"}, base(func(i *invocation) { i.Options = []string{"ro", "uid=1", "gid=2"} })},
		{[]string{"-oro", "auto", "/mnt"}, base(func(i *invocation) { i.Options = []string{"ro"} })},
		{[]string{"-o", "", "auto", "/mnt"}, base(func(i *invocation) { i.Options = []string{""} })},
		{[]string{"-f", "auto", "/mnt"}, base(func(i *invocation) { i.Foreground = true })},
		{[]string{"auto", "/mnt", "--foreground"}, base(func(i *invocation) { i.Foreground = true })},
		{[]string{"-foreground", "auto", "/mnt"}, base(func(i *invocation) { i.Foreground = true })},
		{[]string{"--log-level", "debug", "auto", "/mnt"}, base(func(i *invocation) { i.LogLevel = logrus.DebugLevel })},
		{[]string{"--log-level=warning", "auto", "/mnt"}, base(func(i *invocation) { i.LogLevel = logrus.WarnLevel })},
		{[]string{"-log-level", "trace", "auto", "/mnt"}, base(func(i *invocation) { i.LogLevel = logrus.TraceLevel })},
		{[]string{"auto", "/mnt", "--log-format", "json"}, base(func(i *invocation) { i.LogFormat = "json" })},
		{[]string{"--log-format=text", "auto", "/mnt"}, base(func(*invocation) {})},
		{[]string{"--", "-weird", "/mnt"}, base(func(i *invocation) { i.Source = "-weird" })},
		{[]string{"-f", "--", "auto", "-o"}, base(func(i *invocation) { i.Foreground = true; i.MountPoint = "-o" })},
		{[]string{"swtpm:host=127.0.0.1,port=2321", "rel/dir"}, base(func(i *invocation) { i.Source, i.MountPoint = "swtpm:host=127.0.0.1,port=2321", "rel/dir" })},
		{[]string{"--help"}, &invocation{Help: true, LogLevel: logrus.InfoLevel, LogFormat: "text"}},
		{[]string{"-h", "extra", "args", "here"}, &invocation{Help: true, LogLevel: logrus.InfoLevel, LogFormat: "text"}},
		{[]string{"--version"}, &invocation{Version: true, LogLevel: logrus.InfoLevel, LogFormat: "text"}},
	}
	for _, tt := range tests {
		got, err := parseArgs(tt.argv)
		if err != nil {
			t.Errorf("parseArgs(%q): %v", tt.argv, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseArgs(%q) =\n %+v\nwant\n %+v", tt.argv, got, tt.want)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		argv    []string
		wantMsg string
	}{
		{nil, "missing SOURCE and MOUNTPOINT"},
		{[]string{"auto"}, `missing MOUNTPOINT after SOURCE "auto"`},
		{[]string{"auto", "/mnt", "/other"}, `unexpected argument "/other"`},
		{[]string{"", "/mnt"}, "empty SOURCE"},
		{[]string{"auto", ""}, "empty MOUNTPOINT"},
		{[]string{"-x", "auto", "/mnt"}, `unknown flag "-x"`},
		{[]string{"--fg", "auto", "/mnt"}, `unknown flag "--fg"`},
		{[]string{"auto", "/mnt", "-o"}, `flag "-o" needs a value`},
		{[]string{"auto", "/mnt", "--log-level"}, `flag "--log-level" needs a value`},
		{[]string{"--foreground=yes", "auto", "/mnt"}, `flag "--foreground=yes" takes no value`},
		{[]string{"--log-level", "loud", "auto", "/mnt"}, `--log-level "loud"`},
		{[]string{"--log-format=xml", "auto", "/mnt"}, `--log-format "xml": want text or json`},
	}
	for _, tt := range tests {
		inv, err := parseArgs(tt.argv)
		if err == nil {
			t.Errorf("parseArgs(%q) = %+v, want an error", tt.argv, inv)
			continue
		}
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("parseArgs(%q) error %q: want a usageError containing %q", tt.argv, err, tt.wantMsg)
		}
	}
}

// FuzzParseArgs checks that no command line panics and that an accepted
// one is complete. Arguments are separated by NUL bytes in the input.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"auto\x00/mnt", "auto\x00/mnt\x00-o\x00ro,uid=1", "-f\x00--log-level=debug\x00auto\x00/mnt",
		"--\x00-o\x00-f", "-oro\x00-o", "--help", "--log-format\x00json\x00a\x00b\x00c", "-\x00-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		inv, err := parseArgs(argv)
		if err != nil {
			if _, ok := err.(usageError); !ok || inv != nil {
				t.Fatalf("parseArgs(%q) = %v, %v: want a usageError alone", argv, inv, err)
			}
			return
		}
		if inv.LogFormat != "text" && inv.LogFormat != "json" {
			t.Fatalf("parseArgs(%q): log format %q", argv, inv.LogFormat)
		}
		if !inv.Help && !inv.Version && (inv.Source == "" || inv.MountPoint == "") {
			t.Fatalf("parseArgs(%q): SOURCE %q MOUNTPOINT %q", argv, inv.Source, inv.MountPoint)
		}
		if len(inv.Options) > len(argv) {
			t.Fatalf("parseArgs(%q): %d options from %d arguments", argv, len(inv.Options), len(argv))
		}
	})
}
