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
	Help, Version      bool
}

// flagTakesValue lists the flags by name (without dashes): true if the
// flag takes a value.
var flagTakesValue = map[string]bool{
	"f": false, "foreground": false,
	"o":         true,
	"log-level": true, "log-format": true,
	"version": false,
	"h":       false, "help": false,
}

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
	case "version":
		inv.Version = true
	case "h", "help":
		inv.Help = true
	}
	return nil
}

const usageText = `Usage: tpmfs [flags] SOURCE MOUNTPOINT [-o OPTIONS]

Mounts a TPM at MOUNTPOINT as a tree of files (info, random, pcrs/,
seal/, tpmrm0).

SOURCE, in the TCTI syntax of tpm2-tools:
  auto                            /dev/tpmrm0 if present, else /dev/tpm0
  /dev/tpmrm0, device:/dev/tpm0   kernel character device
  swtpm:host=127.0.0.1,port=2321  swtpm socket over TCP (these are the defaults)
  swtpm:path=/run/swtpm/sock      swtpm socket over a Unix socket
  sim:, sim:state=DIR             in-process simulator: for trying out only,
                                  never for secrets

Flags (also accepted after SOURCE and MOUNTPOINT):
  -f, --foreground       stay in the foreground; the default is to return
                         once mounted and go on in the background
  -o OPTIONS             comma-separated mount options, repeatable
      --log-level LEVEL  panic, fatal, error, warn, info, debug or trace
                         (default info)
      --log-format FMT   text or json (default text); in the background,
                         logs go to syslog
      --version          print the version and exit
  -h, --help             print this help and exit

Mount options (a later one overrides an earlier one):
  allow_other            let other users in; the file modes decide
  ro                     refuse every write with EROFS (rw: the default)
  uid=USER, gid=GROUP    owner of the files, number or name
                         (default: the mounting user, root for fstab)
  pcr_mode=MODE          octal mode of pcrs/** (default 0644)
  random_mode=MODE       mode of random (default 0444)
  seal_mode=MODE         mode of seal/ (default 0755; 1777 lets every
                         user seal their own secrets)
  device_mode=MODE       mode of the raw device tpmrm0 (default 0600)
  rm_policy=LEVEL        what users other than root and uid= may send
                         through tpmrm0: standard (the default: nothing
                         that changes or denies the TPM for others),
                         strict (no NV writes or self tests either), open
  rm_quota=O:S:N         transient objects, sessions and open tpmrm0
                         files each such user may hold (default 16:4:8)
  state=DIR              where sealed objects are kept (default
                         /var/lib/tpmfs for root, else
                         $XDG_STATE_HOME/tpmfs)
  bank=BANK              bank of pcrs/NN: sha1, sha256, sha384, sha512,
                         sm3_256 (default sha256; sha1 on TPM 1.2)
  srk_auth=well-known|file:PATH
                         secret of the storage hierarchy (default
                         well-known)
  fsname=NAME            name in the mount table (default SOURCE)
  subtype=NAME           type shown as fuse.NAME (default tpmfs)
  Accepted and ignored, for fstab: defaults, rw, nofail, auto, noauto,
  _netdev, user, users, nouser, [no]dev, [no]suid, [no]exec, x-systemd.*,
  x-*, comment=, default_permissions (always on), atime options.

Examples:
  tpmfs -o allow_other,seal_mode=1777 /dev/tpmrm0 /run/tpm
  mount -t fuse.tpmfs auto /run/tpm -o allow_other
  /etc/fstab:  auto  /run/tpm  fuse.tpmfs  allow_other,nofail  0 0

Exit status: 0 once mounted (or unmounted cleanly with -f), 1 on failure,
2 on a bad command line or mount option.
`
