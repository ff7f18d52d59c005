package main

import (
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
)

// usageError is a command-line error, which exits with status 2.
type usageError string

func (e usageError) Error() string { return string(e) }

func usagef(format string, args ...any) error {
	return usageError(fmt.Sprintf(format, args...))
}

// invocation is a parsed command line.
type invocation struct {
	Source, MountPoint string
	Options            []string // raw -o arguments, in order
	Foreground         bool
	LogLevel           logrus.Level
	LogFormat          string // "text" or "json"
	LogFile            string // --log-file; "" for stderr or syslog
	Help, Version      bool
}

// cliFlag is one command-line flag. flags is the one table that
// parseArgs, --help and the man page are built from.
type cliFlag struct {
	Names   []string // without dashes; one letter is written -x, longer --name
	Arg     string   // placeholder of the value; "" for a flag that takes none
	Example string   // a valid value, for the documentation tests
	Doc     string   // `backquotes` mark literal text
}

var flags = []cliFlag{
	{Names: []string{"f", "foreground"},
		Doc: "stay in the foreground and log to stderr; the default is to return once the mount is ready (or failed, with the error) and go on in the background"},
	{Names: []string{"o"}, Arg: "OPTIONS", Example: "ro",
		Doc: "comma-separated mount options (below); repeatable, and accepted after SOURCE and MOUNTPOINT too, where mount.fuse3 puts them"},
	{Names: []string{"log-level"}, Arg: "LEVEL", Example: "debug",
		Doc: "panic, fatal, error, warn, info, debug or trace (default info); `trace` adds every FUSE request, without file contents"},
	{Names: []string{"log-format"}, Arg: "FORMAT", Example: "json",
		Doc: "text or json (default text)"},
	{Names: []string{"log-file"}, Arg: "PATH", Example: "/var/log/tpmfs.log",
		Doc: "append the log to PATH (created mode 0600), in the foreground and in the background, instead of stderr or syslog; SIGHUP reopens it, as logrotate expects"},
	{Names: []string{"version"}, Doc: "print the version and exit"},
	{Names: []string{"h", "help"}, Doc: "print this help and exit"},
}

// flagTakesValue maps each flag name to whether it takes a value.
var flagTakesValue = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		for _, n := range f.Names {
			m[n] = f.Arg != ""
		}
	}
	return m
}()

// parseArgs parses the arguments after the program name. Flags may come
// before, between or after SOURCE and MOUNTPOINT, since mount.fuse3 calls
// "tpmfs SOURCE MOUNTPOINT -o OPTIONS". Long flags take one or two dashes
// and "--name=value" or "--name value"; -o also takes "-oOPTIONS" as
// libfuse does; "--" ends the flags. Errors are usageErrors.
func parseArgs(argv []string) (*invocation, error) {
	inv := &invocation{LogLevel: logrus.InfoLevel, LogFormat: "text"}
	var positional []string
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			positional = append(positional, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			positional = append(positional, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
		if !strings.HasPrefix(arg, "--") && strings.HasPrefix(arg, "-o") && len(arg) > 2 {
			name, value, hasValue = "o", arg[2:], true
		}
		takesValue, known := flagTakesValue[name]
		switch {
		case !known:
			return nil, usagef("unknown flag %q", arg)
		case !takesValue && hasValue:
			return nil, usagef("flag %q takes no value", arg)
		case takesValue && !hasValue:
			if i+1 == len(argv) {
				return nil, usagef("flag %q needs a value", arg)
			}
			i++
			value = argv[i]
		}
		if err := inv.set(name, value); err != nil {
			return nil, err
		}
	}
	if inv.Help || inv.Version {
		return inv, nil
	}
	switch {
	case len(positional) == 0:
		return nil, usagef("missing SOURCE and MOUNTPOINT")
	case len(positional) == 1:
		return nil, usagef("missing MOUNTPOINT after SOURCE %q", positional[0])
	case len(positional) > 2:
		return nil, usagef("unexpected argument %q after SOURCE and MOUNTPOINT", positional[2])
	case positional[0] == "":
		return nil, usagef("empty SOURCE")
	case positional[1] == "":
		return nil, usagef("empty MOUNTPOINT")
	}
	inv.Source, inv.MountPoint = positional[0], positional[1]
	return inv, nil
}

func (inv *invocation) set(name, value string) error {
	switch name {
	case "f", "foreground":
		inv.Foreground = true
	case "o":
		inv.Options = append(inv.Options, value)
	case "log-level":
		level, err := logrus.ParseLevel(value)
		if err != nil {
			return usagef("--log-level %q: want panic, fatal, error, warn, info, debug or trace", value)
		}
		inv.LogLevel = level
	case "log-format":
		if value != "text" && value != "json" {
			return usagef("--log-format %q: want text or json", value)
		}
		inv.LogFormat = value
	case "log-file":
		if value == "" {
			return usagef("--log-file needs a path")
		}
		inv.LogFile = value
	case "version":
		inv.Version = true
	case "h", "help":
		inv.Help = true
	}
	return nil
}
