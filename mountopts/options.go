package mountopts

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"tpmfs/tpmcore/pcrsel"
)

// Option is one -o option: how it is written, what it does, and how it is
// parsed. Options is the one table the parser, tpmfs --help and the man
// page are built from; an option without Doc fails the documentation
// tests.
//
// Doc and Default are plain sentences; text in `backquotes` is literal
// (bold in the man page).
type Option struct {
	Name    string // as written before '='
	Arg     string // placeholder of the value ("MODE"); "" for a flag, which takes none
	Default string // the default, as documented; "" when there is nothing to say
	Doc     string // what the option does
	Example string // a valid value, for the documentation tests; "" for a flag

	set func(c *Config, env Env, val string) error
}

// Options lists every option tpmfs acts on, in the order documented.
var Options = []Option{
	{Name: "allow_other", set: flag(func(c *Config) { c.AllowOther = true }),
		Doc: "let other users in; the file modes then decide what each may do (`default_permissions` is always on)"},
	{Name: "ro", set: flag(func(c *Config) { c.ReadOnly = true }),
		Doc: "refuse every change (extend, seal, chmod, rm, opening `tpmrm0`) with EROFS; reading PCRs and unsealing still work"},
	{Name: "rw", set: flag(func(c *Config) { c.ReadOnly = false }),
		Doc: "allow changes, as the file modes say: the default, so it only undoes an earlier `ro`"},
	{Name: "uid", Arg: "USER", Example: "0", Default: "the mounting user; root for fstab",
		Doc: "owner, by number or name, of the fixed files (`info`, `random`, `pcrs/**`, `seal/`, `tpmrm0`, `ek/**`, `ak/`, `nv/**`, `eventlog/*`)",
		set: func(c *Config, env Env, val string) (err error) {
			c.UID, err = parseID(val, env.LookupUser)
			return err
		}},
	{Name: "gid", Arg: "GROUP", Example: "0", Default: "the mounting user's group",
		Doc: "group, by number or name, of the fixed files",
		set: func(c *Config, env Env, val string) (err error) {
			c.GID, err = parseID(val, env.LookupGroup)
			return err
		}},
	{Name: "pcr_mode", Arg: "MODE", Example: "0664", Default: "0644",
		Doc: "octal mode of `pcrs/**`: read for all, extend for the owner",
		set: modeSetter(func(c *Config) *uint32 { return &c.PCRMode })},
	{Name: "random_mode", Arg: "MODE", Example: "0440", Default: "0444",
		Doc: "octal mode of `random`",
		set: modeSetter(func(c *Config) *uint32 { return &c.RandomMode })},
	{Name: "seal_mode", Arg: "MODE", Example: "1777", Default: "0755",
		Doc: "octal mode of `seal/`; `1777` lets every user keep their own sealed objects",
		set: modeSetter(func(c *Config) *uint32 { return &c.SealMode })},
	{Name: "device_mode", Arg: "MODE", Example: "0660", Default: "0600",
		Doc: "octal mode of `tpmrm0`, the raw command channel",
		set: modeSetter(func(c *Config) *uint32 { return &c.DeviceMode })},
	{Name: "ek_mode", Arg: "MODE", Example: "0440", Default: "0444",
		Doc: "octal mode of `ek/`'s files, the EK certificates and public keys (TPM 2.0); `ek/` itself is searchable where they are readable",
		set: modeSetter(func(c *Config) *uint32 { return &c.EKMode })},
	{Name: "ak_mode", Arg: "MODE", Example: "1777", Default: "0755",
		Doc: "octal mode of `ak/` (TPM 2.0); `1777` lets every user keep their own attestation keys",
		set: modeSetter(func(c *Config) *uint32 { return &c.AKMode })},
	{Name: "nv_mode", Arg: "MODE", Example: "0640", Default: "0644",
		Doc: "octal mode that caps `nv/`'s files (TPM 2.0), whose modes follow each index's attributes: the owner's bits what owner authorisation allows, the others' what the index's empty auth value allows",
		set: modeSetter(func(c *Config) *uint32 { return &c.NVMode })},
	{Name: "log_mode", Arg: "MODE", Example: "0440", Default: "0444",
		Doc: "octal mode of `eventlog/*`, which only read; the IMA logs name every file executed, so `log_mode=0440,gid=GROUP` keeps them to a group",
		set: modeSetter(func(c *Config) *uint32 { return &c.LogMode })},
	{Name: "state", Arg: "DIR", Example: "/var/lib/tpmfs", Default: "`/var/lib/tpmfs` for root, else `$XDG_STATE_HOME/tpmfs`",
		Doc: "absolute path of the directory where sealed objects are kept",
		set: func(c *Config, _ Env, val string) (err error) {
			c.StateDir, err = absPath(val)
			return err
		}},
	{Name: "eventlog_dir", Arg: "DIR", Example: "/sys/kernel/security", Default: "`/sys/kernel/security` for a kernel TPM (SOURCE `auto` or a device); none for swtpm and sim",
		Doc: "absolute path of the securityfs mount whose event logs `eventlog/` shows: `tpmN/binary_bios_measurements` (N of the device's name) as `firmware`, `ima/ascii_runtime_measurements` and `ima/binary_runtime_measurements` as `ima-ascii` and `ima-binary`",
		set: func(c *Config, _ Env, val string) (err error) {
			c.EventlogDir, err = absPath(val)
			return err
		}},
	{Name: "bank", Arg: "BANK", Example: "sha384", Default: "sha256; sha1 on a TPM 1.2",
		Doc: "PCR bank that `pcrs/NN` shows: " + bankNames(),
		set: func(c *Config, _ Env, val string) error {
			b, ok := pcrsel.BankByName(val)
			if !ok {
				return fmt.Errorf("%w (want %s)", ErrInvalidBank, bankNames())
			}
			c.Bank = b.Name
			return nil
		}},
	{Name: "srk_auth", Arg: "well-known|file:PATH", Example: "file:/etc/tpmfs/srk", Default: "well-known",
		Doc: "secret of the storage hierarchy: `well-known` (empty on TPM 2.0; 20 zero bytes on TPM 1.2, as TrouSerS' `-z`) or the contents of the file PATH",
		set: func(c *Config, _ Env, val string) error {
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
		}},
	{Name: "seal_quota", Arg: "OBJECTS:BYTES", Example: "16:1M", Default: "64:16M",
		Doc: "sealed objects (attestation keys count as objects) and bytes of secrets each user but root may keep, and bytes they may hold unsaved in open files (BYTES may end in K, M or G); past it EDQUOT; `none`: no limit",
		set: func(c *Config, _ Env, val string) (err error) {
			c.SealQuota, err = parseSealQuota(val)
			return err
		}},
	{Name: "rm_policy", Arg: "LEVEL", Example: "strict", Default: DefaultRMPolicy,
		Doc: "what users other than root and `uid=` may send through `tpmrm0`: `standard` (nothing that changes or denies the TPM for others), `strict` (no NV writes or self tests either) or `open` (anything)",
		set: func(c *Config, _ Env, val string) error {
			for _, p := range RMPolicies {
				if val == p {
					c.RMPolicy = p
					return nil
				}
			}
			return ErrInvalidPolicy
		}},
	{Name: "rm_quota", Arg: "OBJECTS:SESSIONS:OPENS", Example: "32:8:4", Default: "16:4:8",
		Doc: "transient objects, sessions (saved ones too) and open `tpmrm0` files each user other than root and `uid=` may hold; past it the TPM's own out-of-memory codes, or EMFILE at open",
		set: func(c *Config, _ Env, val string) error {
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
		}},
	{Name: "noexec", set: flag(func(c *Config) { c.NoExec = true }),
		Doc: "forbid executing files from the mount (the mount is always `nosuid,nodev`)"},
	{Name: "exec", set: flag(func(c *Config) { c.NoExec = false }),
		Doc: "the default: undoes an earlier `noexec`"},
	{Name: "default_permissions", set: flag(func(c *Config) { c.DefaultPermissions = true }),
		Doc: "the kernel checks every access against the file modes; always on, and required in the options of a mount that mount.fuse3 made itself (`drop_privileges`, mount point `/dev/fd/N`)"},
	{Name: "fsname", Arg: "NAME", Example: "tpm0", Default: "SOURCE",
		Doc: "name of the mount in the mount table",
		set: func(c *Config, _ Env, val string) error { c.FSName = val; return nil }},
	{Name: "subtype", Arg: "NAME", Example: "tpm", Default: DefaultSubtype,
		Doc: "type shown as fuse.NAME in the mount table",
		set: func(c *Config, _ Env, val string) error { c.Subtype = val; return nil }},
}

// Compat is a group of options that tpmfs accepts and ignores, for fstab,
// mount(8) and mount.fuse3, with the reason they change nothing.
type Compat struct {
	Names []string // exact names; with Prefix, the start of a name
	// Prefix: each name is a prefix ("x-") that any option may extend.
	Prefix bool
	Why    string
}

// Ignored lists the options accepted and recorded in Config.Ignored,
// without any effect on the mount.
var Ignored = []Compat{
	{Names: []string{"defaults"}, Why: "fstab's placeholder for no options"},
	{Names: []string{"auto", "noauto", "nofail", "_netdev", "user", "users", "nouser", "owner", "group"},
		Why: "read by mount(8) and systemd when they decide whether and when to mount"},
	{Names: []string{"dev", "nodev", "suid", "nosuid"},
		Why: "the mount is always `nodev,nosuid`, whatever mount.fuse3 adds (it adds `dev,suid`)"},
	{Names: []string{"async"}, Why: "every change reaches the TPM or the state directory before the call returns"},
	{Names: []string{"atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime", "lazytime", "nolazytime"},
		Why: "access times are not kept"},
	{Names: []string{"silent", "loud"}, Why: "kernel message verbosity, which FUSE does not use"},
	{Names: []string{"x-", "X-", "comment="}, Prefix: true,
		Why: "userspace options of fstab, systemd and libmount (`x-systemd.*`, `X-mount.*`)"},
	{Names: []string{"user="}, Prefix: true, Why: "recorded by libmount for a user's mount"},
}

// Refused lists options a user may try that tpmfs cannot honour; they get
// a clearer error than "unknown".
var Refused = []Compat{
	{Names: []string{"remount"}, Why: "a mount's options are fixed: unmount and mount again"},
	{Names: []string{"loop"}, Why: "SOURCE names a TPM, not a file"},
	{Names: []string{"sync", "dirsync"}, Why: "a secret is sealed when its file is closed, not at each write(2)"},
}

// byName indexes Options.
var byName = func() map[string]*Option {
	m := make(map[string]*Option, len(Options))
	for i := range Options {
		m[Options[i].Name] = &Options[i]
	}
	return m
}()

// flag adapts a setter that takes no value.
func flag(set func(*Config)) func(*Config, Env, string) error {
	return func(c *Config, _ Env, _ string) error { set(c); return nil }
}

// apply parses one option into c.
func (c *Config) apply(env Env, opt string) error {
	if strings.ContainsFunc(opt, isControl) {
		return fmt.Errorf("%q: %w", opt, ErrInvalidChar)
	}
	key, val, hasVal := strings.Cut(opt, "=")
	if o, ok := byName[key]; ok {
		switch {
		case o.Arg == "" && hasVal:
			return fmt.Errorf("%s: %w", opt, ErrTakesNoValue)
		case o.Arg != "" && val == "":
			return fmt.Errorf("%s: %w", opt, ErrNeedsValue)
		}
		if err := o.set(c, env, val); err != nil {
			return fmt.Errorf("%s: %w", opt, err)
		}
		return nil
	}
	if matches(Ignored, opt) {
		c.Ignored = append(c.Ignored, opt)
		return nil
	}
	if matches(Refused, key) {
		return fmt.Errorf("mount option %q: %w by tpmfs", opt, ErrUnsupported)
	}
	return fmt.Errorf("%w %q", ErrUnknownOption, opt)
}

// matches reports whether opt is one of the groups' names, or starts with
// one of their prefixes.
func matches(groups []Compat, opt string) bool {
	for _, g := range groups {
		for _, n := range g.Names {
			if opt == n || g.Prefix && strings.HasPrefix(opt, n) {
				return true
			}
		}
	}
	return false
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
