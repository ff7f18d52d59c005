package source

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind names a backend.
type Kind string

const (
	Auto   Kind = "auto"   // /dev/tpmrm0 if present, else /dev/tpm0
	Device Kind = "device" // kernel character device
	Swtpm  Kind = "swtpm"  // swtpm data channel, TCP or Unix socket
	Sim    Kind = "sim"    // in-process reference simulator
)

// Config is a parsed SOURCE: which backend and where.
type Config struct {
	Kind Kind
	// Path is the device path (Device) or the Unix socket (Swtpm).
	Path string
	// Host and Port address a TCP swtpm when Path is empty.
	Host string
	Port int
	// StateDir keeps the simulator's seed across restarts (Sim).
	StateDir string
}

// ErrBad marks a SOURCE string or Config that does not parse.
var ErrBad = errors.New("bad SOURCE")

// Defaults of a TCP swtpm SOURCE, as tpm2-tss's swtpm TCTI.
const (
	DefaultSwtpmHost = "127.0.0.1"
	DefaultSwtpmPort = 2321
)

// Parse parses a SOURCE in tpm2-tools' TCTI syntax:
//
//	auto                          /dev/tpmrm0 if present, else /dev/tpm0
//	/dev/tpmrm0, device:/dev/tpm0 kernel character device
//	device, device:               auto-detect, same as auto
//	swtpm:host=H,port=P           swtpm over TCP (defaults 127.0.0.1, 2321)
//	swtpm:path=/run/swtpm/sock    swtpm over a Unix socket
//	sim, sim:, sim:state=DIR      in-process simulator
//
// It fills in defaults, so the Config is explicit. Errors wrap ErrBad and
// name the offending part.
func Parse(s string) (Config, error) {
	if strings.HasPrefix(s, "/") {
		return deviceConfig(s, s)
	}
	name, conf, _ := strings.Cut(s, ":")
	switch name {
	case "auto":
		if conf != "" {
			return Config{}, badSource(s, "auto takes no options, got %q", conf)
		}
		return Config{Kind: Auto}, nil
	case "device":
		if conf == "" {
			return Config{Kind: Auto}, nil
		}
		return deviceConfig(s, conf)
	case "swtpm":
		return swtpmConfig(s, conf)
	case "sim":
		return simConfig(s, conf)
	case "":
		if s == "" {
			return Config{}, badSource(s, "empty")
		}
		return Config{}, badSource(s, "missing backend name before ':'")
	}
	if !strings.Contains(s, ":") && strings.Contains(s, "/") {
		return Config{}, badSource(s, "relative device path; give an absolute one such as /dev/tpmrm0")
	}
	return Config{}, badSource(s, "unknown backend %q, want auto, device, swtpm, sim or an absolute device path", name)
}

// String returns the canonical SOURCE for c; Parse(c.String()) gives c
// back for every Config that Parse returns.
func (c Config) String() string {
	switch c.Kind {
	case Auto:
		return "auto"
	case Device:
		return "device:" + c.Path
	case Swtpm:
		if c.Path != "" {
			return "swtpm:path=" + c.Path
		}
		c = c.WithDefaults()
		return "swtpm:host=" + c.Host + ",port=" + strconv.Itoa(c.Port)
	case Sim:
		if c.StateDir == "" {
			return "sim:"
		}
		return "sim:state=" + c.StateDir
	}
	return string(c.Kind)
}

// WithDefaults fills an unset TCP swtpm host and port.
func (c Config) WithDefaults() Config {
	if c.Kind == Swtpm && c.Path == "" {
		if c.Host == "" {
			c.Host = DefaultSwtpmHost
		}
		if c.Port == 0 {
			c.Port = DefaultSwtpmPort
		}
	}
	return c
}

func badSource(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrBad, s, fmt.Sprintf(format, args...))
}

func deviceConfig(s, path string) (Config, error) {
	if err := checkPath(s, "device path", path); err != nil {
		return Config{}, err
	}
	return Config{Kind: Device, Path: path}, nil
}

func swtpmConfig(s, conf string) (Config, error) {
	opts, err := parseOptions(s, conf, "host", "port", "path")
	if err != nil {
		return Config{}, err
	}
	if path, ok := opts["path"]; ok {
		if len(opts) > 1 {
			return Config{}, badSource(s, "path cannot be combined with host or port")
		}
		if err := checkPath(s, "socket path", path); err != nil {
			return Config{}, err
		}
		return Config{Kind: Swtpm, Path: path}, nil
	}
	c := Config{Kind: Swtpm, Host: DefaultSwtpmHost, Port: DefaultSwtpmPort}
	if host, ok := opts["host"]; ok {
		if err := checkHost(s, host); err != nil {
			return Config{}, err
		}
		c.Host = host
	}
	if port, ok := opts["port"]; ok {
		if c.Port, err = parsePort(s, port); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

func simConfig(s, conf string) (Config, error) {
	opts, err := parseOptions(s, conf, "state")
	if err != nil {
		return Config{}, err
	}
	c := Config{Kind: Sim}
	if dir, ok := opts["state"]; ok {
		if err := checkPath(s, "state dir", dir); err != nil {
			return Config{}, err
		}
		c.StateDir = dir
	}
	return c, nil
}

// parseOptions splits "k=v,k=v" and accepts only the given keys, once each.
func parseOptions(s, conf string, keys ...string) (map[string]string, error) {
	opts := map[string]string{}
	if conf == "" {
		return opts, nil
	}
	for _, item := range strings.Split(conf, ",") {
		k, v, ok := strings.Cut(item, "=")
		switch {
		case item == "":
			return nil, badSource(s, "empty option (stray comma)")
		case !ok:
			return nil, badSource(s, "option %q is not key=value", item)
		case !contains(keys, k):
			return nil, badSource(s, "unknown key %q, want %s", k, strings.Join(keys, ", "))
		}
		if _, dup := opts[k]; dup {
			return nil, badSource(s, "duplicate key %q", k)
		}
		opts[k] = v
	}
	return opts, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkPath(s, what, path string) error {
	switch {
	case path == "":
		return badSource(s, "empty %s", what)
	case !strings.HasPrefix(path, "/"):
		return badSource(s, "%s %q is relative, give an absolute path", what, path)
	case strings.ContainsRune(path, 0):
		return badSource(s, "%s contains a NUL byte", what)
	}
	return nil
}

// checkHost accepts a host name or an IP literal without brackets, since
// net.JoinHostPort adds those for IPv6.
func checkHost(s, host string) error {
	if host == "" {
		return badSource(s, "empty host")
	}
	for _, r := range host {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("[]/@=", r) {
			return badSource(s, "bad host %q", host)
		}
	}
	return nil
}

func parsePort(s, v string) (int, error) {
	bad := badSource(s, "bad port %q, want a number from 1 to 65535", v)
	if v == "" || len(v) > 5 {
		return 0, bad
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, bad
		}
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, bad
	}
	return p, nil
}
