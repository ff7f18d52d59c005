package mountopts

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"tpmfs/tpmcore/pcrsel"
)

// flagOptions take no value.
var flagOptions = map[string]func(*Config){
	"allow_other": func(c *Config) { c.AllowOther = true },
	"ro":          func(c *Config) { c.ReadOnly = true },
	"rw":          func(c *Config) { c.ReadOnly = false },
}

// valueOptions take key=value; they get the value and the whole option
// for error messages.
var valueOptions = map[string]func(c *Config, env Env, val string) error{
	"uid": func(c *Config, env Env, val string) (err error) {
		c.UID, err = parseID(val, env.LookupUser)
		return err
	},
	"gid": func(c *Config, env Env, val string) (err error) {
		c.GID, err = parseID(val, env.LookupGroup)
		return err
	},
	"pcr_mode":    modeSetter(func(c *Config) *uint32 { return &c.PCRMode }),
	"random_mode": modeSetter(func(c *Config) *uint32 { return &c.RandomMode }),
	"seal_mode":   modeSetter(func(c *Config) *uint32 { return &c.SealMode }),
	"device_mode": modeSetter(func(c *Config) *uint32 { return &c.DeviceMode }),
	"state": func(c *Config, _ Env, val string) (err error) {
		c.StateDir, err = absPath(val)
		return err
	},
	"bank": func(c *Config, _ Env, val string) error {
		b, ok := pcrsel.BankByName(val)
		if !ok {
			return fmt.Errorf("%w (want %s)", ErrInvalidBank, bankNames())
		}
		c.Bank = b.Name
		return nil
	},
	"srk_auth": func(c *Config, _ Env, val string) error {
		if val == "well-known" {
			c.SRKAuth = SRKAuth{WellKnown: true}
			return nil
		}
		path, ok := strings.CutPrefix(val, "file:")
		if !ok {
			return ErrInvalidSRK
		}
		file, err := absPath(path)
		if err != nil {
			return err
		}
		c.SRKAuth = SRKAuth{File: file}
		return nil
	},
	"seal_quota": func(c *Config, _ Env, val string) (err error) {
		c.SealQuota, err = parseSealQuota(val)
		return err
	},
	"rm_policy": func(c *Config, _ Env, val string) error {
		for _, p := range RMPolicies {
			if val == p {
				c.RMPolicy = p
				return nil
			}
		}
		return ErrInvalidPolicy
	},
	"rm_quota": func(c *Config, _ Env, val string) error {
		parts := strings.Split(val, ":")
		if len(parts) != 3 {
			return ErrInvalidQuota
		}
		var n [3]int
		for i, p := range parts {
			v, err := strconv.ParseUint(p, 10, 32)
			if err != nil || !isDigits(p) || v > maxQuota {
				return ErrInvalidQuota
			}
			n[i] = int(v)
		}
		c.RMQuota = RMQuota{Objects: n[0], Sessions: n[1], Opens: n[2]}
		return nil
	},
	"fsname":  func(c *Config, _ Env, val string) error { c.FSName = val; return nil },
	"subtype": func(c *Config, _ Env, val string) error { c.Subtype = val; return nil },
}

// ignoredOptions are accepted for fstab and mount(8) compatibility and
// have no effect: mount(8)'s own options (auto, user, _netdev, ...), the
// VFS flags that mount.fuse3 passes on (it always adds dev and suid) and
// that say nothing to a TPM tree, and default_permissions, which tpmfs
// always sets.
var ignoredOptions = map[string]bool{
	"defaults": true, "default_permissions": true,
	"auto": true, "noauto": true, "nofail": true, "_netdev": true,
	"user": true, "users": true, "nouser": true, "owner": true, "group": true,
	"dev": true, "nodev": true, "suid": true, "nosuid": true,
	"exec": true, "noexec": true, "async": true,
	"atime": true, "noatime": true, "diratime": true, "nodiratime": true,
	"relatime": true, "norelatime": true, "strictatime": true,
	"nostrictatime": true, "lazytime": true, "nolazytime": true,
	"silent": true, "loud": true,
}

// ignoredPrefixes: userspace options of fstab and libmount (x-systemd.*,
// x-gvfs-*, X-mount.*, comment=) and user=NAME, which libmount records
// for user mounts.
var ignoredPrefixes = []string{"x-", "X-", "comment=", "user="}

// rejected are options a user may try that tpmfs cannot honour; they get
// a clearer error than "unknown".
var rejected = map[string]bool{"remount": true, "loop": true, "sync": true, "dirsync": true}

// apply parses one option into c.
func (c *Config) apply(env Env, opt string) error {
	if strings.ContainsFunc(opt, isControl) {
		return fmt.Errorf("%q: %w", opt, ErrInvalidChar)
	}
	key, val, hasVal := strings.Cut(opt, "=")
	if set, ok := flagOptions[key]; ok {
		if hasVal {
			return fmt.Errorf("%s: %w", opt, ErrTakesNoValue)
		}
		set(c)
		return nil
	}
	if set, ok := valueOptions[key]; ok {
		if val == "" {
			return fmt.Errorf("%s: %w", opt, ErrNeedsValue)
		}
		if err := set(c, env, val); err != nil {
			return fmt.Errorf("%s: %w", opt, err)
		}
		return nil
	}
	if ignoredOptions[opt] || hasAnyPrefix(opt, ignoredPrefixes) {
		c.Ignored = append(c.Ignored, opt)
		return nil
	}
	if rejected[key] {
		return fmt.Errorf("mount option %q: %w by tpmfs", opt, ErrUnsupported)
	}
	return fmt.Errorf("%w %q", ErrUnknownOption, opt)
}

func modeSetter(field func(*Config) *uint32) func(*Config, Env, string) error {
	return func(c *Config, _ Env, val string) error {
		m, err := strconv.ParseUint(val, 8, 32)
		if err != nil {
			return ErrInvalidMode
		}
		if m > maxMode {
			return fmt.Errorf("%w: above 07777", ErrInvalidMode)
		}
		*field(c) = uint32(m)
		return nil
	}
}

// parseID takes a decimal id or a name to look up. (uid_t)-1 is refused:
// chown(2) reads it as "leave unchanged".
func parseID(val string, lookup func(string) (uint32, error)) (uint32, error) {
	if isDigits(val) {
		id, err := strconv.ParseUint(val, 10, 32)
		if err != nil || id == 1<<32-1 {
			return 0, ErrInvalidID
		}
		return uint32(id), nil
	}
	id, err := lookup(val)
	if err != nil {
		return 0, err
	}
	if id == 1<<32-1 {
		return 0, ErrInvalidID
	}
	return id, nil
}

func absPath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", ErrNotAbsolute
	}
	return filepath.Clean(p), nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
