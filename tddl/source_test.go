package tddl_test

import (
	"errors"
	"strings"
	"testing"

	"tpmfs/tddl"
)

func TestParseSource(t *testing.T) {
	const (
		auto  = tddl.KindAuto
		dev   = tddl.KindDevice
		swtpm = tddl.KindSwtpm
		sim   = tddl.KindSim
	)
	tests := []struct {
		in   string
		want tddl.Config
	}{
		{"auto", tddl.Config{Kind: auto}},
		{"auto:", tddl.Config{Kind: auto}},
		{"device", tddl.Config{Kind: auto}},
		{"device:", tddl.Config{Kind: auto}},
		{"/dev/tpmrm0", tddl.Config{Kind: dev, Path: "/dev/tpmrm0"}},
		{"device:/dev/tpm0", tddl.Config{Kind: dev, Path: "/dev/tpm0"}},
		{"/mnt/tpm/tpmrm0", tddl.Config{Kind: dev, Path: "/mnt/tpm/tpmrm0"}},
		{"device:/a,b=c:d", tddl.Config{Kind: dev, Path: "/a,b=c:d"}},
		{"swtpm", tddl.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:", tddl.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:host=127.0.0.1,port=2321", tddl.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:port=2421", tddl.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2421}},
		{"swtpm:host=tpm.example", tddl.Config{Kind: swtpm, Host: "tpm.example", Port: 2321}},
		{"swtpm:port=1,host=::1", tddl.Config{Kind: swtpm, Host: "::1", Port: 1}},
		{"swtpm:port=65535", tddl.Config{Kind: swtpm, Host: "127.0.0.1", Port: 65535}},
		{"swtpm:port=02321", tddl.Config{Kind: swtpm, Host: "127.0.0.1", Port: 2321}},
		{"swtpm:path=/run/swtpm/sock", tddl.Config{Kind: swtpm, Path: "/run/swtpm/sock"}},
		{"sim", tddl.Config{Kind: sim}},
		{"sim:", tddl.Config{Kind: sim}},
		{"sim:state=/var/lib/tpmfs-sim", tddl.Config{Kind: sim, StateDir: "/var/lib/tpmfs-sim"}},
	}
	for _, tt := range tests {
		got, err := tddl.ParseSource(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
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
		_, err := tddl.ParseSource(tt.in)
		if !errors.Is(err, tddl.ErrBadSource) {
			t.Errorf("ParseSource(%q) = %v, want ErrBadSource", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParseSource(%q) error %q does not mention %q", tt.in, err, tt.mention)
		}
	}
}

func TestConfigString(t *testing.T) {
	tests := []struct {
		cfg  tddl.Config
		want string
	}{
		{tddl.Config{Kind: tddl.KindAuto}, "auto"},
		{tddl.Config{Kind: tddl.KindDevice, Path: "/dev/tpm0"}, "device:/dev/tpm0"},
		{tddl.Config{Kind: tddl.KindSwtpm, Host: "::1", Port: 7}, "swtpm:host=::1,port=7"},
		{tddl.Config{Kind: tddl.KindSwtpm}, "swtpm:host=127.0.0.1,port=2321"},
		{tddl.Config{Kind: tddl.KindSwtpm, Path: "/s"}, "swtpm:path=/s"},
		{tddl.Config{Kind: tddl.KindSim}, "sim:"},
		{tddl.Config{Kind: tddl.KindSim, StateDir: "/d"}, "sim:state=/d"},
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
		cfg, err := tddl.ParseSource(s)
		if err != nil {
			if !errors.Is(err, tddl.ErrBadSource) {
				t.Fatalf("ParseSource(%q) error %v does not wrap ErrBadSource", s, err)
			}
			return
		}
		again, err := tddl.ParseSource(cfg.String())
		if err != nil || again != cfg {
			t.Fatalf("ParseSource(%q) = %+v; its String %q parses to %+v, %v",
				s, cfg, cfg.String(), again, err)
		}
	})
}
