package mountopts

import (
	"fmt"
	"path/filepath"
	"strings"

	"tpmfs/tddl/source"
)

// Parse parses SOURCE and the raw -o arguments against the running
// process's environment. See ParseEnv.
func Parse(source string, options []string) (*Config, error) {
	return ParseEnv(OSEnv{}, source, options)
}

// ParseEnv parses SOURCE and the raw -o arguments (each one
// comma-separated; a later option overrides an earlier one) into a
// validated Config. env supplies the uid, gid, $XDG_STATE_HOME, $HOME and
// user/group lookups. The first bad option ends parsing with an error
// naming it.
func ParseEnv(env Env, src string, options []string) (*Config, error) {
	if src == "" {
		return nil, fmt.Errorf("%w \"\": empty", ErrSource)
	}
	// SOURCE is also the default fsname, which the kernel must take.
	if strings.ContainsFunc(src, isControl) {
		return nil, fmt.Errorf("%w %q: %w", ErrSource, src, ErrInvalidChar)
	}
	tpm, err := source.Parse(src)
	if err != nil {
		return nil, sourceError{err}
	}
	cfg := &Config{
		Source: src,
		TPM:    tpm,
		// The mounting user owns the files by default: root for an
		// fstab mount (DESIGN.md's 0, 0), the user for a user's mount.
		UID:        uint32(env.Geteuid()),
		GID:        uint32(env.Getegid()),
		PCRMode:    DefaultPCRMode,
		RandomMode: DefaultRandomMode,
		SealMode:   DefaultSealMode,
		DeviceMode: DefaultDeviceMode,
		EKMode:     DefaultEKMode,
		AKMode:     DefaultAKMode,
		NVMode:     DefaultNVMode,
		LogMode:    DefaultLogMode,
		SRKAuth:    SRKAuth{WellKnown: true},
		SealQuota:  &DefaultSealQuota,
		RMPolicy:   DefaultRMPolicy,
		RMQuota:    DefaultRMQuota,
		FSName:     src,
		Subtype:    DefaultSubtype,
	}
	for _, arg := range options {
		opts, err := splitOptions(arg)
		if err != nil {
			return nil, err
		}
		for _, opt := range opts {
			if err := cfg.apply(env, opt); err != nil {
				return nil, err
			}
		}
	}
	if cfg.StateDir == "" {
		if cfg.StateDir, err = defaultStateDir(env); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// splitOptions splits one -o argument at unescaped commas, libfuse style:
// a backslash makes the next character literal. Empty items are dropped,
// as mount.fuse3 does.
func splitOptions(arg string) ([]string, error) {
	var (
		opts []string
		cur  strings.Builder
	)
	for i := 0; i < len(arg); i++ {
		switch c := arg[i]; c {
		case '\\':
			i++
			if i == len(arg) {
				return nil, fmt.Errorf("-o %q: %w", arg, ErrEscape)
			}
			cur.WriteByte(arg[i])
		case ',':
			if cur.Len() > 0 {
				opts = append(opts, cur.String())
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		opts = append(opts, cur.String())
	}
	return opts, nil
}

// defaultStateDir follows DESIGN.md: /var/lib/tpmfs for root, else the
// XDG base directory spec's state home, whose relative values must be
// ignored.
func defaultStateDir(env Env) (string, error) {
	if env.Geteuid() == 0 {
		return RootStateDir, nil
	}
	if x := env.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "tpmfs"), nil
	}
	if h := env.Getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "tpmfs"), nil
	}
	return "", ErrNoStateDir
}

// sourceError is a source.Parse error, which already names SOURCE,
// made to match ErrSource as well.
type sourceError struct{ err error }

func (e sourceError) Error() string   { return e.err.Error() }
func (e sourceError) Unwrap() []error { return []error{ErrSource, e.err} }
