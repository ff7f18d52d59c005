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
