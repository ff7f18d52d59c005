package swtpmtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.RunMain(m)) }

const pcr = 16 // the debug PCR, resettable and free for tests

// primaryName creates the ECC SRK and returns its name, which the
// storage seed alone determines, and flushes it.
func primaryName(t *testing.T, tpm transport.TPM) []byte {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tpm)
	if err != nil {
		t.Fatalf("CreatePrimary: %v", err)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}).Execute(tpm); err != nil {
		t.Fatalf("FlushContext: %v", err)
	}
	return rsp.Name.Buffer
}

func readPCR(t *testing.T, tpm transport.TPM) []byte {
	t.Helper()
	sel := tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(pcr)}}}
	rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(tpm)
	if err != nil || len(rsp.PCRValues.Digests) != 1 {
		t.Fatalf("PCRRead: %v", err)
	}
	return rsp.PCRValues.Digests[0].Buffer
}

// Stop and Restart keep the state (the same seeds, so the same primary
// key), the restart resets the PCRs (startup-clear), and the TCTI reaches
// the same TPM as Dial.
func TestRestartKeepsState(t *testing.T) {
	s := swtpmtest.Start(t)
	if want := "swtpm:host=127.0.0.1,port=" + strconv.Itoa(s.Port); s.Source() != want || s.TCTI() != want {
		t.Fatalf("Source %q, TCTI %q; want %q", s.Source(), s.TCTI(), want)
	}
	c := s.Dial(t)
	name := primaryName(t, c)
	d := sha256.Sum256([]byte("swtpmtest"))
	ext := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}
	if _, err := ext.Execute(c); err != nil {
		t.Fatalf("PCRExtend: %v", err)
	}
	c.Close()

	f := filepath.Join(t.TempDir(), "pcr")
	s.Tool(t, nil, "tpm2_pcrread", "-o", f, "sha256:"+strconv.Itoa(pcr))
	want := sha256.Sum256(append(make([]byte, 32), d[:]...))
	if got, err := os.ReadFile(f); err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("tpm2_pcrread = %x, %v; want %x", got, err, want)
	}

	s.Stop()
	s.Stop() // a second Stop does nothing
	if c, err := s.Connect(); err == nil {
		c.Close()
		t.Fatal("a stopped swtpm accepts connections")
	}
	s.Restart(t)
	c = s.Dial(t)
	if got := primaryName(t, c); !bytes.Equal(got, name) {
		t.Errorf("primary after Restart %x, before %x: the state was not kept", got, name)
	}
	if got := readPCR(t, c); !bytes.Equal(got, make([]byte, 32)) {
		t.Errorf("pcr %d after Restart = %x, want zeros", pcr, got)
	}
	c.Close()

	other := swtpmtest.Start(t)
	if got := primaryName(t, other.Dial(t)); bytes.Equal(got, name) {
		t.Errorf("two swtpms share a seed: primary %x", got)
	}

	s.Stop()
	s.RestartWithoutStartup(t)
	c = s.Dial(t)
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(c); !errors.Is(err, tpm2.TPMRCInitialize) {
		t.Errorf("GetRandom before Startup = %v, want TPM_RC_INITIALIZE", err)
	}
}

func TestUnix(t *testing.T) {
	s := swtpmtest.StartWith(t, swtpmtest.Options{Unix: true})
	if s.Port != 0 || s.Source() != "swtpm:path="+s.Sock || s.TCTI() != "" {
		t.Errorf("Unix swtpm: port %d, Source %q, TCTI %q", s.Port, s.Source(), s.TCTI())
	}
	rsp, err := tpm2.GetRandom{BytesRequested: 8}.Execute(s.Dial(t))
	if err != nil || len(rsp.RandomBytes.Buffer) != 8 {
		t.Fatalf("GetRandom over %s: %v", s.Sock, err)
	}
}

// owner asks a TPM 1.2 whether it has an owner: TPM_GetCapability
// (ordinal 0x65) of TPM_CAP_PROPERTY (5), TPM_CAP_PROP_OWNER (0x111), as
// TPM 1.2 Part 2 and 3 lay it out.
func owner(t *testing.T, s *swtpmtest.Swtpm) bool {
	t.Helper()
	cmd := binary.BigEndian.AppendUint16(nil, 0xC1)
	for _, v := range []uint32{22, 0x65, 5, 4, 0x111} {
		cmd = binary.BigEndian.AppendUint32(cmd, v)
	}
	c := s.Dial(t)
	defer c.Close()
	rsp, err := c.Send(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if len(rsp) != 15 || binary.BigEndian.Uint16(rsp) != 0xC4 || binary.BigEndian.Uint32(rsp[6:]) != 0 || binary.BigEndian.Uint32(rsp[10:]) != 1 {
		t.Fatalf("TPM_GetCapability(owner) = %x", rsp)
	}
	return rsp[14] == 1
}

func TestStart12(t *testing.T) {
	for _, owned := range []bool{true, false} {
		s := swtpmtest.Start12(t, owned)
		if got := owner(t, s); got != owned {
			t.Errorf("Start12(owned=%v): TPM has an owner: %v", owned, got)
		}
		s.Stop()
		s.Restart(t)
		if got := owner(t, s); got != owned {
			t.Errorf("Start12(owned=%v) after Restart: TPM has an owner: %v", owned, got)
		}
	}
	a, b := swtpmtest.State12(t, true), swtpmtest.State12(t, true)
	if a != b {
		t.Errorf("State12 made two states: %s and %s", a, b)
	}
}

// TestStartEK: a TPM from the EK-certificate state holds the
// certificates swtpm_setup made, each signed by the state's local CA;
// each swtpm works on a copy of the one state.
func TestStartEK(t *testing.T) {
	swtpmtest.Require(t, "tpm2_getcap", "tpm2_nvread", "tpm2_nvdefine", "openssl")
	e := swtpmtest.StateEK(t)
	if again := swtpmtest.StateEK(t); again != e {
		t.Errorf("StateEK made two states: %v and %v", e, again)
	}
	a := swtpmtest.StartEK(t)
	out := string(a.Tool(t, nil, "tpm2_getcap", "handles-nv-index"))
	for _, idx := range []string{"0x1C00002", "0x1C00016", "0x1C08000"} {
		if !strings.Contains(out, idx) {
			t.Errorf("NV index %s missing: %s", idx, out)
		}
	}
	for _, idx := range []string{"0x1c00002", "0x1c00016"} {
		cert := filepath.Join(t.TempDir(), "ek.der")
		a.Tool(t, nil, "tpm2_nvread", idx, "-o", cert)
		// openssl verify reads PEM only.
		pemCert := cert + ".pem"
		if out, err := runTool("openssl", "x509", "-inform", "DER", "-in", cert, "-out", pemCert); err != nil {
			t.Fatalf("openssl x509: %v\n%s", err, out)
		}
		if out, err := runTool("openssl", "verify", "-CAfile", e.RootCert(), "-untrusted", e.IssuerCert(), pemCert); err != nil {
			t.Errorf("EK certificate %s does not verify against the local CA: %v\n%s", idx, err, out)
		}
	}
	a.Tool(t, nil, "tpm2_nvdefine", "0x1500001", "-s", "8")
	b := swtpmtest.StartEK(t)
	if out := string(b.Tool(t, nil, "tpm2_getcap", "handles-nv-index")); strings.Contains(out, "0x1500001") {
		t.Errorf("an index defined on one copy shows on another: %s", out)
	}
}

func runTool(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func TestFreePortPair(t *testing.T) {
	p := swtpmtest.FreePortPair(t)
	for _, port := range []int{p, p + 1} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("FreePortPair = %d, but %d is taken: %v", p, port, err)
		}
		l.Close()
	}
}

// recorder is a testing.TB that notes how a helper would end the test
// (skip or fail) instead of ending the real one.
type recorder struct {
	testing.TB
	ended string // "skip", "fail", or "" if the test would go on
	msg   string
}

// endTest stops the function under test where the real TB would stop the
// test's goroutine.
type endTest struct{}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.ended, r.msg = "skip", fmt.Sprintf(format, args...)
	panic(endTest{})
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.ended, r.msg = "fail", fmt.Sprintf(format, args...)
	panic(endTest{})
}

// record runs f on a fresh recorder.
func record(f func(t testing.TB)) (r *recorder) {
	r = &recorder{}
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(endTest); !ok {
				panic(v)
			}
		}
	}()
	f(r)
	return r
}

// A missing tool skips the test, unless TPMFS_TEST_REQUIRE=1 makes it a
// failure that says why; a tool that is there does neither.
func TestRequire(t *testing.T) {
	t.Setenv("TPMFS_TEST_REQUIRE", "")
	if r := record(func(t testing.TB) { swtpmtest.Require(t, "sh") }); r.ended != "" {
		t.Errorf("Require(sh) would %s the test: %s", r.ended, r.msg)
	}
	r := record(func(t testing.TB) { swtpmtest.Require(t, "sh", "no-such-tool-swtpmtest") })
	if r.ended != "skip" || !strings.Contains(r.msg, "no-such-tool-swtpmtest") {
		t.Errorf("a missing tool: %q %q, want a skip naming it", r.ended, r.msg)
	}
	t.Setenv("TPMFS_TEST_REQUIRE", "1")
	r = record(func(t testing.TB) { swtpmtest.Require(t, "sh", "no-such-tool-swtpmtest") })
	if r.ended != "fail" || !strings.Contains(r.msg, "no-such-tool-swtpmtest") || !strings.Contains(r.msg, "TPMFS_TEST_REQUIRE=1") {
		t.Errorf("a missing tool under TPMFS_TEST_REQUIRE=1: %q %q, want a failure naming it and the variable", r.ended, r.msg)
	}
}
