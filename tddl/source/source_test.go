package source_test

import (
	"errors"
	"strings"
	"testing"

	"tpmfs/tddl/source"
)

func TestParseSource(t *testing.T) {
	const (
		auto  = source.Auto
		dev   = source.Device
		swtpm = source.Swtpm
		sim   = source.Sim
	)
	tests := []struct {
		in   string
		want source.Config
	}{
		{"auto", source.Config{Kind: auto}},
		{"auto:", source.Config{Kind: auto}},
		{"device", source.Config{Kind: auto}},
		{"device:", source.Config{Kind: auto}},
		{"/dev/tpmrm0", source.Config{Kind: dev, Path: "/dev/tpmrm0"}},
		{"device:/dev/tpm0", source.Config{Kind: dev, Path: "/dev/tpm0"}},
		{"/mnt/tpm/tpmrm0", source.Config{Kind: dev, Path: "/mnt/tpm/tpmrm0"}},
		{"device:/a,b=c:d", source.Config{Kind: dev, Path: "/a,b=c:d"}},
		{"swtpm", source.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:", source.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:host=127.0.0.1,port=2321", source.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:port=2421", source.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2421}},
		{"swtpm:host=tpm.example", source.Config{Kind: swtpm, Host: "tpm.example", Port: 2321}},
		{"swtpm:port=1,host=::1", source.Config{Kind: swtpm, Host: "::1", Port: 1}},
		{"swtpm:port=65535", source.Config{Kind: swtpm, Host: "127.0.0.1", Port: 65535}},
		{"swtpm:port=02321", source.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:path=/run/swtpm/sock", source.Config{Kind: swtpm, Path: "/run/swtpm/sock"}},
		{"sim", source.Config{Kind: sim}},
		{"sim:", source.Config{Kind: sim}},
		{"sim:state=/var/lib/tpmfs-sim", source.Config{Kind: sim, StateDir: "/var/lib/tpmfs-sim"}},
	}
	for _, tt := range tests {
		got, err := source.Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSourceErrors(t *testing.T) {
	// Each error must name the offending part.
	tests := []struct{ in, mention string }{
		{"", "empty"},
		{":x", "missing backend"},
		{"mssim:host=localhost", `unknown backend "mssim"`},
		{"tabrmd", `unknown backend "tabrmd"`},
		{"Auto", `unknown backend "Auto"`},
		{"dev/tpm0", "relative"},
		{"auto:x", "no options"},
		{"device:dev/tpm0", `"dev/tpm0" is relative`},
		{"device:/dev/\x00", "NUL"},
		{"swtpm:host=", "empty host"},
		{"swtpm:host=a b", `bad host "a b"`},
		{"swtpm:host=[::1]", `bad host "[::1]"`},
		{"swtpm:port=", `bad port ""`},
		{"swtpm:port=0", `bad port "0"`},
		{"swtpm:port=65536", `bad port "65536"`},
		{"swtpm:port=-1", `bad port "-1"`},
		{"swtpm:port=+1", `bad port "+1"`},
		{"swtpm:port=0x10", `bad port "0x10"`},
		{"swtpm:port=99999999999999999999", "bad port"},
		{"swtpm:port=1,port=2", `duplicate key "port"`},
		{"swtpm:host=a,host=a", `duplicate key "host"`},
		{"swtpm:hots=a", `unknown key "hots"`},
		{"swtpm:state=/x", `unknown key "state"`},
		{"swtpm:localhost", `"localhost" is not key=value`},
		{"swtpm:port=1,", "empty option"},
		{"swtpm:,port=1", "empty option"},
		{"swtpm:path=", "empty socket path"},
		{"swtpm:path=run/sock", `socket path "run/sock" is relative`},
		{"swtpm:path=/s,port=1", "path cannot be combined"},
		{"swtpm:host=h,path=/s", "path cannot be combined"},
		{"sim:state=", "empty state dir"},
		{"sim:state=var/x", `state dir "var/x" is relative`},
		{"sim:state=/a,state=/b", `duplicate key "state"`},
		{"sim:seed=1", `unknown key "seed"`},
	}
	for _, tt := range tests {
		_, err := source.Parse(tt.in)
		if !errors.Is(err, source.ErrBad) {
			t.Errorf("Parse(%q) = %v, want ErrBad", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Parse(%q) error %q does not mention %q", tt.in, err, tt.mention)
		}
	}
}

func TestConfigString(t *testing.T) {
	tests := []struct {
		cfg  source.Config
		want string
	}{
		{source.Config{Kind: source.Auto}, "auto"},
		{source.Config{Kind: source.Device, Path: "/dev/tpm0"}, "device:/dev/tpm0"},
		{source.Config{Kind: source.Swtpm, Host: "::1", Port: 7}, "swtpm:host=::1,port=7"},
		{source.Config{Kind: source.Swtpm}, "swtpm:host=127.0.0.1,port=2321"},
		{source.Config{Kind: source.Swtpm, Path: "/s"}, "swtpm:path=/s"},
		{source.Config{Kind: source.Sim}, "sim:"},
		{source.Config{Kind: source.Sim, StateDir: "/d"}, "sim:state=/d"},
	}
	for _, tt := range tests {
		if got := tt.cfg.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}

// FuzzParseSource: no panic, and an accepted SOURCE round-trips through
// its canonical form.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{
		"auto", "device", "device:", "/dev/tpmrm0", "device:/dev/tpm0",
		"swtpm", "swtpm:host=127.0.0.1,port=2321", "swtpm:port=1", "swtpm:path=/s",
		"sim", "sim:", "sim:state=/d", "swtpm:path=/s,port=1", "swtpm:port=65536",
		"mssim:", ":", "", "swtpm:host=a=b", "device:/a:b,c=d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := source.Parse(s)
		if err != nil {
			if !errors.Is(err, source.ErrBad) {
				t.Fatalf("ParseSource(%q) error %v does not wrap ErrBadSource", s, err)
			}
			return
		}
		again, err := source.Parse(cfg.String())
		if err != nil || again != cfg {
			t.Fatalf("ParseSource(%q) = %+v; its String %q parses to %+v, %v",
				s, cfg, cfg.String(), again, err)
		}
	})
}
