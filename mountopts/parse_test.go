package mountopts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// defaults is what a bare "auto" mount by fakeEnv's user must give,
// written out from DESIGN.md's option table.
func defaults() Config {
	return Config{
		Source:     "auto",
		UID:        1000,
		GID:        1000,
		PCRMode:    0o644,
		RandomMode: 0o444,
		SealMode:   0o755,
		DeviceMode: 0o600,
		EKMode:     0o444,
		AKMode:     0o755,
		NVMode:     0o644,
		LogMode:    0o444,
		StateDir:   "/home/alice/.local/state/tpmfs",
		SRKAuth:    SRKAuth{WellKnown: true},
		SealQuota:  &SealQuota{Objects: 64, Bytes: 16 << 20},
		RMPolicy:   "standard",
		RMQuota:    RMQuota{Objects: 16, Sessions: 4, Opens: 8},
		FSName:     "auto",
		Subtype:    "tpmfs",
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		env  func(*fakeEnv)
		want func(*Config)
	}{
		{name: "no options", want: func(*Config) {}},
		{name: "empty -o and empty items", opts: []string{"", ",,", ","}, want: func(*Config) {}},
		{name: "allow_other", opts: []string{"allow_other"}, want: func(c *Config) { c.AllowOther = true }},
		{name: "ro", opts: []string{"ro"}, want: func(c *Config) { c.ReadOnly = true }},
		{name: "ro then rw", opts: []string{"ro,rw"}, want: func(*Config) {}},
		{name: "rw then ro across -o", opts: []string{"rw", "ro"}, want: func(c *Config) { c.ReadOnly = true }},
		{name: "noexec", opts: []string{"noexec"}, want: func(c *Config) { c.NoExec = true }},
		{name: "noexec then exec", opts: []string{"noexec", "exec"}, want: func(*Config) {}},
		{name: "numeric ids", opts: []string{"uid=0,gid=42"}, want: func(c *Config) { c.UID, c.GID = 0, 42 }},
		{name: "named ids", opts: []string{"uid=tss,gid=tss"}, want: func(c *Config) { c.UID, c.GID = 107, 113 }},
		{name: "largest valid id", opts: []string{"uid=4294967294"}, want: func(c *Config) { c.UID = 1<<32 - 2 }},
		{name: "later uid wins", opts: []string{"uid=5", "uid=alice,uid=7"}, want: func(c *Config) { c.UID = 7 }},
		{
			name: "modes",
			opts: []string{"pcr_mode=0664,random_mode=400,seal_mode=1777,device_mode=07777"},
			want: func(c *Config) { c.PCRMode, c.RandomMode, c.SealMode, c.DeviceMode = 0o664, 0o400, 0o1777, 0o7777 },
		},
		{name: "mode zero", opts: []string{"device_mode=0"}, want: func(c *Config) { c.DeviceMode = 0 }},
		{
			name: "attestation modes",
			opts: []string{"ek_mode=0440,ak_mode=1777,nv_mode=0600"},
			want: func(c *Config) { c.EKMode, c.AKMode, c.NVMode = 0o440, 0o1777, 0o600 },
		},
		{name: "log_mode", opts: []string{"log_mode=0440"}, want: func(c *Config) { c.LogMode = 0o440 }},
		{name: "eventlog_dir", opts: []string{"eventlog_dir=/srv/fixtures/"}, want: func(c *Config) { c.EventlogDir = "/srv/fixtures" }},
		{name: "state", opts: []string{"state=/srv//tpm/./x/"}, want: func(c *Config) { c.StateDir = "/srv/tpm/x" }},
		{name: "bank", opts: []string{"bank=sha384"}, want: func(c *Config) { c.Bank = "sha384" }},
		{name: "bank any case", opts: []string{"bank=SM3_256"}, want: func(c *Config) { c.Bank = "sm3_256" }},
		{name: "srk file", opts: []string{"srk_auth=file:/etc/tpmfs/srk"}, want: func(c *Config) { c.SRKAuth = SRKAuth{File: "/etc/tpmfs/srk"} }},
		{name: "srk back to well-known", opts: []string{"srk_auth=file:/k", "srk_auth=well-known"}, want: func(*Config) {}},
		{name: "seal quota", opts: []string{"seal_quota=10:1M"}, want: func(c *Config) { c.SealQuota = &SealQuota{10, 1 << 20} }},
		{name: "seal quota bytes", opts: []string{"seal_quota=0:4096"}, want: func(c *Config) { c.SealQuota = &SealQuota{0, 4096} }},
		{name: "seal quota G", opts: []string{"seal_quota=1000:2G"}, want: func(c *Config) { c.SealQuota = &SealQuota{1000, 2 << 30} }},
		{name: "no seal quota", opts: []string{"seal_quota=none"}, want: func(c *Config) { c.SealQuota = nil }},
		{name: "rm_policy strict", opts: []string{"rm_policy=strict"}, want: func(c *Config) { c.RMPolicy = "strict" }},
		{name: "rm_policy open", opts: []string{"rm_policy=open"}, want: func(c *Config) { c.RMPolicy = "open" }},
		{name: "rm_quota", opts: []string{"rm_quota=32:8:2"}, want: func(c *Config) { c.RMQuota = RMQuota{Objects: 32, Sessions: 8, Opens: 2} }},
		{name: "rm_quota zeros", opts: []string{"rm_quota=0:0:0"}, want: func(c *Config) { c.RMQuota = RMQuota{} }},
		{name: "rm_quota largest", opts: []string{"rm_quota=65536:065536:1"}, want: func(c *Config) { c.RMQuota = RMQuota{Objects: 65536, Sessions: 65536, Opens: 1} }},
		{name: "fsname subtype", opts: []string{"fsname=tpm0,subtype=tpm"}, want: func(c *Config) { c.FSName, c.Subtype = "tpm0", "tpm" }},
		{name: "escaped comma", opts: []string{`fsname=swtpm:host=h\,port=1,ro`}, want: func(c *Config) { c.FSName = "swtpm:host=h,port=1"; c.ReadOnly = true }},
		{name: "escaped backslash", opts: []string{`fsname=a\\b`}, want: func(c *Config) { c.FSName = `a\b` }},
		{name: "value with equals", opts: []string{"fsname=a=b"}, want: func(c *Config) { c.FSName = "a=b" }},
		{
			name: "fstab compatibility",
			opts: []string{"defaults,rw,nofail,noauto,auto,_netdev,user,users,nouser,dev,nodev,suid,nosuid,exec,noexec"},
			want: func(c *Config) {
				c.NoExec = true
				c.Ignored = []string{"defaults", "nofail", "noauto", "auto", "_netdev", "user", "users", "nouser", "dev", "nodev", "suid", "nosuid"}
			},
		},
		{
			name: "mount(8) and systemd extras",
			opts: []string{"x-systemd.automount,x-systemd.device-timeout=5s,x-gvfs-show,X-mount.mkdir=0755,comment=a=b,user=alice,default_permissions,noatime,relatime,lazytime,async"},
			want: func(c *Config) {
				c.DefaultPermissions = true
				c.Ignored = []string{"x-systemd.automount", "x-systemd.device-timeout=5s", "x-gvfs-show", "X-mount.mkdir=0755", "comment=a=b", "user=alice", "noatime", "relatime", "lazytime", "async"}
			},
		},
		{
			name: "what mount.fuse3 passes",
			opts: []string{"rw,allow_other,uid=tss,dev,suid"},
			want: func(c *Config) { c.AllowOther = true; c.UID = 107; c.Ignored = []string{"dev", "suid"} },
		},
		{name: "root state default", env: func(e *fakeEnv) { e.uid, e.gid = 0, 0 }, want: func(c *Config) { c.UID, c.GID, c.StateDir = 0, 0, "/var/lib/tpmfs" }},
		{name: "xdg state", env: func(e *fakeEnv) { e.vars["XDG_STATE_HOME"] = "/x/state" }, want: func(c *Config) { c.StateDir = "/x/state/tpmfs" }},
		{name: "relative xdg ignored", env: func(e *fakeEnv) { e.vars["XDG_STATE_HOME"] = "state" }, want: func(*Config) {}},
		{name: "state= needs no env", opts: []string{"state=/s"}, env: func(e *fakeEnv) { e.vars = nil }, want: func(c *Config) { c.StateDir = "/s" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFakeEnv()
			if tt.env != nil {
				tt.env(env)
			}
			got, err := ParseEnv(env, "auto", tt.opts)
			if err != nil {
				t.Fatalf("ParseEnv(%q) error: %v", tt.opts, err)
			}
			want := defaults()
			tt.want(&want)
			got.TPM = want.TPM // SOURCE parsing is tddl's; checked in TestParseSource
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("ParseEnv(%q) =\n %+v\nwant\n %+v", tt.opts, *got, want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		opts    []string
		env     func(*fakeEnv)
		wantErr error
		wantMsg string // the error must name the option like this
	}{
		{opts: []string{"foo"}, wantErr: ErrUnknownOption, wantMsg: `unknown mount option "foo"`},
		{opts: []string{"ro,foo=1"}, wantErr: ErrUnknownOption, wantMsg: `unknown mount option "foo=1"`},
		{opts: []string{"ro", "allow_root"}, wantErr: ErrUnknownOption, wantMsg: `"allow_root"`},
		{opts: []string{"Ro"}, wantErr: ErrUnknownOption, wantMsg: `"Ro"`},
		{opts: []string{"pcr_mode=999"}, wantErr: ErrInvalidMode, wantMsg: "pcr_mode=999: invalid octal mode"},
		{opts: []string{"seal_mode=17777"}, wantErr: ErrInvalidMode, wantMsg: "seal_mode=17777: invalid octal mode"},
		{opts: []string{"random_mode=-1"}, wantErr: ErrInvalidMode, wantMsg: "random_mode=-1"},
		{opts: []string{"device_mode=0o600"}, wantErr: ErrInvalidMode, wantMsg: "device_mode=0o600"},
		{opts: []string{"device_mode=+600"}, wantErr: ErrInvalidMode, wantMsg: "device_mode=+600"},
		{opts: []string{"pcr_mode=99999999999999999999"}, wantErr: ErrInvalidMode, wantMsg: "pcr_mode="},
		{opts: []string{"pcr_mode="}, wantErr: ErrNeedsValue, wantMsg: "pcr_mode=: needs a value"},
		{opts: []string{"uid"}, wantErr: ErrNeedsValue, wantMsg: "uid: needs a value"},
		{opts: []string{"uid=nobody"}, wantErr: ErrUnknownUser, wantMsg: "uid=nobody: unknown user"},
		{opts: []string{"gid=nogroup"}, wantErr: ErrUnknownGroup, wantMsg: "gid=nogroup: unknown group"},
		{opts: []string{"uid=4294967295"}, wantErr: ErrInvalidID, wantMsg: "uid=4294967295"},
		{opts: []string{"uid=4294967296"}, wantErr: ErrInvalidID, wantMsg: "uid=4294967296"},
		{opts: []string{"uid=broken"}, wantErr: ErrInvalidID, wantMsg: "uid=broken"},
		{opts: []string{"allow_other=1"}, wantErr: ErrTakesNoValue, wantMsg: "allow_other=1: takes no value"},
		{opts: []string{"ro="}, wantErr: ErrTakesNoValue, wantMsg: "ro="},
		{opts: []string{"noexec=1"}, wantErr: ErrTakesNoValue, wantMsg: "noexec=1"},
		{opts: []string{"state=relative/dir"}, wantErr: ErrNotAbsolute, wantMsg: "state=relative/dir"},
		{opts: []string{"bank=md5"}, wantErr: ErrInvalidBank, wantMsg: "bank=md5"},
		{opts: []string{"srk_auth=hunter2"}, wantErr: ErrInvalidSRK, wantMsg: "srk_auth=hunter2"},
		{opts: []string{"seal_quota=64"}, wantErr: ErrInvalidSealQuota, wantMsg: "seal_quota=64"},
		{opts: []string{"seal_quota=64:16MB"}, wantErr: ErrInvalidSealQuota, wantMsg: "seal_quota=64:16MB"},
		{opts: []string{"seal_quota=-1:16M"}, wantErr: ErrInvalidSealQuota, wantMsg: "seal_quota=-1:16M"},
		{opts: []string{"seal_quota=:16M"}, wantErr: ErrInvalidSealQuota, wantMsg: "seal_quota=:16M"},
		{opts: []string{"seal_quota=1:99999999999999999999G"}, wantErr: ErrInvalidSealQuota, wantMsg: "seal_quota="},
		{opts: []string{"seal_quota=unlimited"}, wantErr: ErrInvalidSealQuota, wantMsg: "seal_quota=unlimited"},
		{opts: []string{"rm_policy=Standard"}, wantErr: ErrInvalidPolicy, wantMsg: "rm_policy=Standard"},
		{opts: []string{"rm_policy=none"}, wantErr: ErrInvalidPolicy, wantMsg: "rm_policy=none"},
		{opts: []string{"rm_policy="}, wantErr: ErrNeedsValue, wantMsg: "rm_policy="},
		{opts: []string{"rm_quota=16:4"}, wantErr: ErrInvalidQuota, wantMsg: "rm_quota=16:4"},
		{opts: []string{"rm_quota=16:4:8:1"}, wantErr: ErrInvalidQuota, wantMsg: "rm_quota=16:4:8:1"},
		{opts: []string{"rm_quota=16:-4:8"}, wantErr: ErrInvalidQuota, wantMsg: "rm_quota=16:-4:8"},
		{opts: []string{"rm_quota=16:+4:8"}, wantErr: ErrInvalidQuota, wantMsg: "rm_quota=16:+4:8"},
		{opts: []string{"rm_quota=16::8"}, wantErr: ErrInvalidQuota, wantMsg: "rm_quota=16::8"},
		{opts: []string{"rm_quota=65537:4:8"}, wantErr: ErrInvalidQuota, wantMsg: "rm_quota=65537:4:8"},
		{opts: []string{"rm_quota=99999999999999999999:4:8"}, wantErr: ErrInvalidQuota},
		{opts: []string{"rm_quota=a:b:c"}, wantErr: ErrInvalidQuota},
		{opts: []string{"srk_auth=file:"}, wantErr: ErrNotAbsolute, wantMsg: "srk_auth=file:"},
		{opts: []string{"srk_auth=file:key"}, wantErr: ErrNotAbsolute, wantMsg: "srk_auth=file:key"},
		{opts: []string{"fsname=a\x00b"}, wantErr: ErrInvalidChar, wantMsg: "fsname=a"},
		{opts: []string{"subtype=a\nb"}, wantErr: ErrInvalidChar, wantMsg: "subtype=a"},
		{opts: []string{`ro\`}, wantErr: ErrEscape, wantMsg: "trailing backslash"},
		{opts: []string{"remount"}, wantErr: ErrUnsupported, wantMsg: `"remount"`},
		{opts: []string{"loop"}, wantErr: ErrUnsupported, wantMsg: `"loop"`},
		{opts: []string{"sync"}, wantErr: ErrUnsupported, wantMsg: `"sync"`},
		{env: func(e *fakeEnv) { e.vars = nil }, wantErr: ErrNoStateDir, wantMsg: "state="},
		{env: func(e *fakeEnv) { e.vars["HOME"] = "home" }, wantErr: ErrNoStateDir, wantMsg: "state="},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.opts, " "), func(t *testing.T) {
			env := newFakeEnv()
			if tt.env != nil {
				tt.env(env)
			}
			cfg, err := ParseEnv(env, "auto", tt.opts)
			if err == nil {
				t.Fatalf("ParseEnv(%q) = %+v, want error", tt.opts, cfg)
			}
			if cfg != nil {
				t.Errorf("ParseEnv(%q) returned a config with its error", tt.opts)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseEnv(%q) error %q is not %q", tt.opts, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseEnv(%q) error %q does not contain %q", tt.opts, err, tt.wantMsg)
			}
		})
	}
}

func TestSplitOptions(t *testing.T) {
	tests := map[string][]string{
		"":             nil,
		"a":            {"a"},
		"a,b,,c,":      {"a", "b", "c"},
		`a\,b,c`:       {"a,b", "c"},
		`a\\,b`:        {`a\`, "b"},
		`\a\=b`:        {"a=b"},
		`fsname=x\,y,`: {"fsname=x,y"},
	}
	for in, want := range tests {
		got, err := splitOptions(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitOptions(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
