package mountopts

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"tpmfs/tddl/source"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		source string
		want   source.Config
	}{
		{"swtpm:host=10.1.2.3,port=2400", source.Config{Kind: source.Swtpm, Host: "10.1.2.3", Port: 2400}},
		{"swtpm:path=/run/swtpm/sock", source.Config{Kind: source.Swtpm, Path: "/run/swtpm/sock"}},
		{"device:/dev/tpm0", source.Config{Kind: source.Device, Path: "/dev/tpm0"}},
		{"/dev/tpmrm0", source.Config{Kind: source.Device, Path: "/dev/tpmrm0"}},
	}
	for _, tt := range tests {
		cfg, err := ParseEnv(newFakeEnv(), tt.source, []string{"ro"})
		if err != nil {
			t.Errorf("ParseEnv(%q): %v", tt.source, err)
			continue
		}
		if cfg.TPM != tt.want {
			t.Errorf("ParseEnv(%q).TPM = %+v, want %+v", tt.source, cfg.TPM, tt.want)
		}
		if cfg.Source != tt.source || cfg.FSName != tt.source {
			t.Errorf("ParseEnv(%q): Source %q, FSName %q; want both the SOURCE", tt.source, cfg.Source, cfg.FSName)
		}
	}
	if cfg, err := ParseEnv(newFakeEnv(), "auto", nil); err != nil || cfg.TPM.Kind != source.Auto {
		t.Errorf("ParseEnv(auto) = %+v, %v; want Kind auto", cfg, err)
	}
}

func TestParseBadSource(t *testing.T) {
	for _, source := range []string{"", "auto\x00", "carrier-pigeon:coo", "swtpm:port=notanumber"} {
		cfg, err := ParseEnv(newFakeEnv(), source, nil)
		if err == nil {
			t.Errorf("ParseEnv(%q) = %+v, want error", source, cfg)
			continue
		}
		if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "SOURCE") || !strings.Contains(err.Error(), fmt.Sprintf("%q", source)) {
			t.Errorf("ParseEnv(%q) error %q should be ErrSource and name the SOURCE", source, err)
		}
	}
}

// The kernel's logs are looked for where the kernel keeps them for its
// own TPMs only, unless eventlog_dir= says where.
func TestKernelLogDir(t *testing.T) {
	for _, tc := range []struct {
		source, opt string
		dir         string
		tpm         int
	}{
		{"auto", "", "/sys/kernel/security", 0},
		{"/dev/tpmrm0", "", "/sys/kernel/security", 0},
		{"device:/dev/tpm1", "", "/sys/kernel/security", 1},
		{"/dev/tpmrm12", "", "/sys/kernel/security", 12},
		{"device:/mnt/tpmfs/tpmrm0", "", "", 0},
		{"/dev/tpmrmx", "", "", 0},
		{"swtpm:port=2321", "", "", 0},
		{"sim:", "", "", 0},
		{"swtpm:port=2321", "eventlog_dir=/srv/f", "/srv/f", 0},
		{"/dev/tpmrm2", "eventlog_dir=/srv/f", "/srv/f", 2},
	} {
		var opts []string
		if tc.opt != "" {
			opts = []string{tc.opt}
		}
		cfg, err := ParseEnv(newFakeEnv(), tc.source, opts)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.source, tc.opt, err)
		}
		if dir, tpm := cfg.KernelLogDir(); dir != tc.dir || tpm != tc.tpm {
			t.Errorf("%s %s: %q tpm%d, want %q tpm%d", tc.source, tc.opt, dir, tpm, tc.dir, tc.tpm)
		}
	}
}
