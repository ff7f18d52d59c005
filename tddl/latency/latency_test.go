package latency

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
	"tpmfs/tddl"
)

func TestProfilesTable(t *testing.T) {
	if got := strings.Join(Profiles(), ","); got != "dtpm,ftpm" {
		t.Fatalf("profiles %q, want dtpm,ftpm", got)
	}
	d, _ := Lookup("dtpm")
	f, _ := Lookup("ftpm")
	for _, tc := range []struct {
		p       *Profile
		code    tpm2.TPMCC
		variant string
		want    time.Duration
	}{
		{d, tpm2.TPMCCGetRandom, "*", 3 * time.Millisecond},
		{d, tpm2.TPMCCCreatePrimary, "ecc", 180 * time.Millisecond},
		{d, tpm2.TPMCCCreatePrimary, "rsa", 9 * time.Second},
		{d, tpm2.TPMCCStartAuthSession, "ecc-salted", 85 * time.Millisecond},
		{d, tpm2.TPMCCStartAuthSession, "unsalted", 4 * time.Millisecond},
		{d, tpm2.TPMCCContextLoad, "*", 37 * time.Millisecond},
		{d, tpm2.TPMCCContextLoad, "ecc", 37 * time.Millisecond}, // no such variant: the command's row
		{d, tpm2.TPMCCHash, "*", 5 * time.Millisecond},           // not listed: anything else
		{f, tpm2.TPMCCGetRandom, "*", 1500 * time.Microsecond},
		{f, tpm2.TPMCCSign, "rsa", 19 * time.Millisecond},
		{f, tpm2.TPMCCPCRRead, "*", 1500 * time.Microsecond},
	} {
		if got := tc.p.Cost(uint32(tc.code), tc.variant).Time; got != tc.want {
			t.Errorf("%s: 0x%x %s costs %v, want %v", tc.p.Name, uint32(tc.code), tc.variant, got, tc.want)
		}
	}
	// Every row cites a source, and measured rows are told apart.
	for _, name := range Profiles() {
		p, _ := Lookup(name)
		measured := 0
		for _, c := range p.Costs {
			if p.Sources[c.Source] == "" {
				t.Errorf("%s %s: source %q not described", name, c.Command, c.Source)
			}
			if !c.Interpolated {
				measured++
			}
		}
		if measured == 0 {
			t.Errorf("%s: no measured row", name)
		}
	}
}

func TestParseRejects(t *testing.T) {
	const src = "source m measured\nsource interp interpolated\n"
	for _, bad := range []string{
		"p 0x17B GetRandom * 3 m\n",                    // no row for other commands
		"p * * * 3 m\np 0x17B GetRandom * x m\n",       // not a number
		"p * * * 3 m\np 0x17B GetRandom * 0 m\n",       // not positive
		"p * * * 3 m\np 0x17B GetRandom * 3 nope\n",    // unknown source
		"p * * * 3 m\np 0x17B GetRandom * 3~ m\n",      // interpolated, cited as measured
		"p * * * 3 m\np 0x17B GetRandom * 3~ interp\n", // interpolated without a note
		"p * * * 3 m\np 0x17B GetRandom * 3 m\np 0x17B GetRandom * 4 m\n",
		"p * * * 3 m\np 0x17B GetRandom *\n",
		"p * * * 3 m\np zz GetRandom * 3 m\n",
	} {
		if _, err := parse(src + bad); err == nil {
			t.Errorf("parse accepted %q", bad)
		}
	}
	if _, err := parse(src + "p * * * 3 m\np 0x17B GetRandom * 3~ interp as something\n"); err != nil {
		t.Errorf("parse: %v", err)
	}
}

// captured returns the bytes go-tpm marshals for a command.
func captured(t *testing.T, exec func(tpm transport.TPM)) []byte {
	t.Helper()
	var c capture
	exec(&c)
	if c.cmd == nil {
		t.Fatal("nothing sent")
	}
	return c.cmd
}

type capture struct{ cmd []byte }

var errCaptured = errors.New("captured")

func (c *capture) Send(cmd []byte) ([]byte, error) {
	if c.cmd == nil {
		c.cmd = bytes.Clone(cmd)
	}
	return nil, errCaptured
}

func TestVariant(t *testing.T) {
	eccKey, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eccPub := tpm2.ECCSRKTemplate
	x, y := eccKey.PublicKey().Bytes()[1:33], eccKey.PublicKey().Bytes()[33:]
	eccPub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{X: tpm2.TPM2BECCParameter{Buffer: x}, Y: tpm2.TPM2BECCParameter{Buffer: y}})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub := tpm2.RSASRKTemplate
	rsaPub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: rsaKey.N.Bytes()})
	pw := tpm2.PasswordAuth(nil)
	name := tpm2.TPM2BName{Buffer: append([]byte{0, 0x0b}, make([]byte, 32)...)}
	sealed := tpm2.TPMTPublic{Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull}}),
		Unique:     tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{})}
	for _, tc := range []struct {
		name string
		exec func(tpm transport.TPM)
		want string
	}{
		{"unsalted session", func(tpm transport.TPM) { tpm2.HMAC(tpm2.TPMAlgSHA256, 16).Init(tpm) }, "unsalted"},
		{"ECC-salted session", func(tpm transport.TPM) {
			tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Salted(0x80000000, eccPub)).Init(tpm)
		}, "ecc-salted"},
		{"RSA-salted session", func(tpm transport.TPM) {
			tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Salted(0x80000000, rsaPub)).Init(tpm)
		}, "rsa-salted"},
		{"ECC primary", func(tpm transport.TPM) {
			tpm2.CreatePrimary{PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: pw}, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tpm)
		}, "ecc"},
		{"RSA primary", func(tpm transport.TPM) {
			tpm2.CreatePrimary{PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: pw}, InPublic: tpm2.New2B(tpm2.RSASRKTemplate)}.Execute(tpm)
		}, "rsa"},
		{"sealed data", func(tpm transport.TPM) {
			tpm2.Create{ParentHandle: tpm2.AuthHandle{Handle: 0x80000000, Name: name, Auth: pw},
				InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
					Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: []byte("a secret")})}},
				InPublic: tpm2.New2B(sealed)}.Execute(tpm)
		}, "sealed"},
		{"ECDSA sign", func(tpm transport.TPM) {
			tpm2.Sign{KeyHandle: tpm2.AuthHandle{Handle: 0x80000001, Name: name, Auth: pw}, Digest: tpm2.TPM2BDigest{Buffer: make([]byte, 32)},
				InScheme:   tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgECDSA, Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256})},
				Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull}}.Execute(tpm)
		}, "ecc"},
		{"RSA sign", func(tpm transport.TPM) {
			tpm2.Sign{KeyHandle: tpm2.AuthHandle{Handle: 0x80000001, Name: name, Auth: pw}, Digest: tpm2.TPM2BDigest{Buffer: make([]byte, 32)},
				InScheme:   tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgRSASSA, Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgRSASSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256})},
				Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull}}.Execute(tpm)
		}, "rsa"},
		{"GetRandom", func(tpm transport.TPM) { tpm2.GetRandom{BytesRequested: 8}.Execute(tpm) }, "*"},
	} {
		if got := Variant(captured(t, tc.exec)); got != tc.want {
			t.Errorf("%s: variant %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, short := range [][]byte{nil, {0x80}, {0x80, 0x02, 0, 0, 0, 12, 0, 0, 1, 0x31}} {
		if got := Variant(short); got != "*" {
			t.Errorf("Variant(%x) = %q, want *", short, got)
		}
	}
}

// instant answers every command at once, with rc.
type instant struct {
	mu    sync.Mutex
	rc    uint32
	sends int
}

func (i *instant) Send(cmd []byte) ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.sends++
	h := tpmwire.Header{Tag: 0x8001, Size: tpmwire.HeaderSize, Code: i.rc}
	return h.Append(nil), nil
}
func (i *instant) Close() error { return nil }

func testModel(t *testing.T) *Model {
	t.Helper()
	ps, err := parse("source m measured\np 0x17B GetRandom * 20 m\np * * * 5 m\n")
	if err != nil {
		t.Fatal(err)
	}
	return New(ps["p"])
}

func getRandomCmd(t *testing.T) []byte {
	return captured(t, func(tpm transport.TPM) { tpm2.GetRandom{BytesRequested: 8}.Execute(tpm) })
}

// TestModelTimesAndCounts: each command takes its modelled time, the
// commands of two connections are served one at a time, and the model
// counts each kind.
func TestModelTimesAndCounts(t *testing.T) {
	m := testModel(t)
	inner := &instant{}
	a, b := m.Wrap(inner), m.Wrap(inner)
	cmd := getRandomCmd(t)
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range []*Conn{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Send(cmd); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Errorf("4 GetRandoms of 20 ms took %v: not served one at a time", took)
	}
	inner.rc = uint32(tpm2.TPMRCHandle)
	if _, err := a.Send(cmd); err != nil {
		t.Fatal(err)
	}
	s := m.Stats()
	ok := Kind{Code: uint32(tpm2.TPMCCGetRandom), Variant: "*"}
	failed := ok
	failed.Failed = true
	if s.Count[ok] != 4 || s.Count[failed] != 1 || s.Commands() != 5 {
		t.Errorf("counts %v, want 4 GetRandom and 1 failed", s.Count)
	}
	if s.Modelled != 4*20*time.Millisecond+5*time.Millisecond {
		t.Errorf("modelled %v, want 85ms (a failure costs the row for any command)", s.Modelled)
	}
	d := m.Stats().Sub(s)
	if d.Commands() != 0 || d.Modelled != 0 {
		t.Errorf("difference of equal snapshots: %+v", d)
	}
}

func TestModelDeadlineAndClose(t *testing.T) {
	m := testModel(t)
	c := m.Wrap(&instant{})
	cmd := getRandomCmd(t)
	c.SetDeadline(time.Now().Add(time.Millisecond))
	if _, err := c.Send(cmd); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Send past the deadline: %v", err)
	}
	c.SetDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := c.Send(cmd); done <- err }()
	time.Sleep(5 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, tddl.ErrClosed) {
			t.Errorf("Send cut by Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}
