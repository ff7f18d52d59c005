package mountopts

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks that no input panics and that every accepted
// configuration is valid.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", "ro", "rw,allow_other,uid=tss,gid=1,dev,suid", "pcr_mode=999",
		"seal_mode=1777,state=/a/../b", `fsname=a\,b,subtype=x`, "srk_auth=file:/k", "seal_quota=3:1K",
		"bank=SHA256", "x-systemd.automount,comment=x", `\`, "uid=4294967295",
		"rm_policy=strict,rm_quota=16:4:8", "rm_quota=1:2", "rm_quota=65536:0:9",
	}
	for _, s := range seeds {
		f.Add("auto", s, "ro")
	}
	f.Add("swtpm:host=h,port=1", "state=relative", "")
	f.Fuzz(func(t *testing.T, source, opt1, opt2 string) {
		cfg, err := ParseEnv(newFakeEnv(), source, []string{opt1, opt2})
		if err != nil {
			if cfg != nil {
				t.Fatalf("config %+v returned with error %v", cfg, err)
			}
			return
		}
		for _, m := range []uint32{cfg.PCRMode, cfg.RandomMode, cfg.SealMode, cfg.DeviceMode, cfg.EKMode, cfg.AKMode, cfg.NVMode} {
			if m > 0o7777 {
				t.Fatalf("mode %o above 07777 from %q %q", m, opt1, opt2)
			}
		}
		if !filepath.IsAbs(cfg.StateDir) || filepath.Clean(cfg.StateDir) != cfg.StateDir {
			t.Fatalf("StateDir %q not absolute and clean", cfg.StateDir)
		}
		if !slices.Contains(RMPolicies, cfg.RMPolicy) {
			t.Fatalf("rm_policy %q accepted", cfg.RMPolicy)
		}
		for _, n := range []int{cfg.RMQuota.Objects, cfg.RMQuota.Sessions, cfg.RMQuota.Opens} {
			if n < 0 || n > maxQuota {
				t.Fatalf("rm_quota %+v out of range from %q %q", cfg.RMQuota, opt1, opt2)
			}
		}
		if !cfg.SRKAuth.WellKnown && !filepath.IsAbs(cfg.SRKAuth.File) {
			t.Fatalf("SRK file %q not absolute", cfg.SRKAuth.File)
		}
		if cfg.SRKAuth.WellKnown && cfg.SRKAuth.File != "" {
			t.Fatalf("SRKAuth both well-known and file %q", cfg.SRKAuth.File)
		}
		if cfg.Source != source || cfg.FSName == "" || cfg.Subtype == "" {
			t.Fatalf("Source %q FSName %q Subtype %q", cfg.Source, cfg.FSName, cfg.Subtype)
		}
		if cfg.Bank != "" && !strings.Contains(" sha1 sha256 sha384 sha512 sm3_256 ", " "+cfg.Bank+" ") {
			t.Fatalf("Bank %q", cfg.Bank)
		}
		if cfg.UID == 1<<32-1 || cfg.GID == 1<<32-1 {
			t.Fatalf("id -1 accepted: %d:%d", cfg.UID, cfg.GID)
		}
		for _, s := range append(cfg.Ignored, cfg.FSName, cfg.Subtype, cfg.StateDir) {
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("control character in %q", s)
			}
		}
	})
}
