package tddltest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

// Backend is one way of reaching a TPM that the suite runs on.
type Backend struct {
	Name   string
	Config source.Config
	// Swtpm is set for swtpm backends: the suite stops and restarts it.
	Swtpm *swtpmtest.Swtpm
	// Deadline says the backend bounds Send in time (tddl.Deadliner):
	// sockets do; a device and the simulator do not, and the queue's
	// watchdog closes them instead.
	Deadline bool
}

// open connects to b for one subtest. A generous deadline turns a hang
// into a failure.
func (b Backend) open(t *testing.T) tddl.TPM {
	t.Helper()
	tpm, err := tddl.Open(b.Config)
	if errors.Is(err, tddl.ErrNotBuiltIn) {
		swtpmtest.SkipOrFail(t, "%s: %v", b.Name, err)
	}
	if err != nil {
		t.Fatalf("open %s: %v", b.Config, err)
	}
	t.Cleanup(func() { tpm.Close() })
	if d, ok := tpm.(tddl.Deadliner); ok {
		if err := d.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	return tpm
}

// Run runs the suite on b: each subtest opens its own connection.
func Run(t *testing.T, b Backend) {
	t.Run("GetRandom", func(t *testing.T) { testGetRandom(t, b.open(t)) })
	t.Run("PCRExtendRead", func(t *testing.T) { testPCRExtend(t, b.open(t)) })
	t.Run("GetCapability", func(t *testing.T) { testGetCapability(t, b.open(t)) })
	t.Run("BadTag", func(t *testing.T) { testBadTag(t, b.open(t)) })
	t.Run("CommandSize", func(t *testing.T) { testCommandSize(t, b.open(t)) })
	t.Run("SendAfterClose", func(t *testing.T) { testSendAfterClose(t, b.open(t)) })
	t.Run("Deadline", func(t *testing.T) { testDeadline(t, b.open(t), b.Deadline) })
	if b.Swtpm != nil {
		t.Run("Reconnect", func(t *testing.T) { testReconnect(t, b.open(t), b.Swtpm) })
		t.Run("RestartWhileIdle", func(t *testing.T) { testRestartWhileIdle(t, b.open(t), b.Swtpm) })
	}
}

func testGetRandom(t *testing.T, tpm tddl.TPM) {
	a, err := tpm2.GetRandom{BytesRequested: 32}.Execute(tpm)
	if err != nil {
		t.Fatalf("GetRandom: %v", err)
	}
	b, err := tpm2.GetRandom{BytesRequested: 32}.Execute(tpm)
	if err != nil {
		t.Fatalf("GetRandom: %v", err)
	}
	if len(a.RandomBytes.Buffer) != 32 || len(b.RandomBytes.Buffer) != 32 {
		t.Fatalf("got %d and %d random bytes, want 32", len(a.RandomBytes.Buffer), len(b.RandomBytes.Buffer))
	}
	if bytes.Equal(a.RandomBytes.Buffer, b.RandomBytes.Buffer) {
		t.Fatalf("two GetRandom calls returned the same bytes %x", a.RandomBytes.Buffer)
	}
}

// DebugPCR is resettable and free for tests (PC Client profile).
const DebugPCR = 16

func ReadPCR(t *testing.T, tpm tddl.TPM, idx uint) []byte {
	t.Helper()
	rsp, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{
		PCRSelections: []tpm2.TPMSPCRSelection{{
			Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(idx),
		}},
	}}.Execute(tpm)
	if err != nil {
		t.Fatalf("PCRRead %d: %v", idx, err)
	}
	if len(rsp.PCRValues.Digests) != 1 {
		t.Fatalf("PCRRead %d: got %d digests, want 1", idx, len(rsp.PCRValues.Digests))
	}
	return rsp.PCRValues.Digests[0].Buffer
}

func ExtendPCR(t *testing.T, tpm tddl.TPM, idx uint, digest []byte) {
	t.Helper()
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(idx), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{
			HashAlg: tpm2.TPMAlgSHA256, Digest: digest,
		}}},
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("PCRExtend %d: %v", idx, err)
	}
}

// testPCRExtend checks the TPM's extend against crypto/sha256:
// new = SHA256(old || digest).
func testPCRExtend(t *testing.T, tpm tddl.TPM) {
	old := ReadPCR(t, tpm, DebugPCR)
	d := sha256.Sum256([]byte("tddl conformance " + t.Name()))
	ExtendPCR(t, tpm, DebugPCR, d[:])
	want := sha256.Sum256(append(append([]byte{}, old...), d[:]...))
	if got := ReadPCR(t, tpm, DebugPCR); !bytes.Equal(got, want[:]) {
		t.Fatalf("PCR %d after extend = %x, want %x", DebugPCR, got, want)
	}
}

func testGetCapability(t *testing.T, tpm tddl.TPM) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTFamilyIndicator),
		PropertyCount: 1,
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("GetCapability: %v", err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		t.Fatal(err)
	}
	// TPM_PT_FAMILY_INDICATOR is the string "2.0" (Part 2, 6.13).
	const family20 = 0x322E3000
	if len(props.TPMProperty) == 0 || props.TPMProperty[0].Value != family20 {
		t.Fatalf("family indicator = %+v, want 0x%x", props.TPMProperty, family20)
	}
	// A larger response: every algorithm the TPM knows.
	algs, err := tpm2.GetCapability{Capability: tpm2.TPMCapAlgs, PropertyCount: 64}.Execute(tpm)
	if err != nil {
		t.Fatalf("GetCapability(ALGS): %v", err)
	}
	list, err := algs.CapabilityData.Data.Algorithms()
	if err != nil || len(list.AlgProperties) < 4 {
		t.Fatalf("GetCapability(ALGS) = %+v, %v", list, err)
	}
}

// getRandomCmd builds TPM2_GetRandom(16) by hand (Part 3, 16.1) so the
// tests can break it on purpose.
func GetRandomCmd(tag uint16) []byte {
	cmd := make([]byte, 12)
	binary.BigEndian.PutUint16(cmd[0:], tag)
	binary.BigEndian.PutUint32(cmd[2:], 12)
	binary.BigEndian.PutUint32(cmd[6:], 0x17B) // TPM_CC_GetRandom
	binary.BigEndian.PutUint16(cmd[10:], 16)
	return cmd
}

// testBadTag: a well-framed command with a bad tag is a TPM error, not a
// Go error.
func testBadTag(t *testing.T, tpm tddl.TPM) {
	rsp, err := tpm.Send(GetRandomCmd(0x1234))
	if err != nil {
		t.Fatalf("Send(bad tag): %v, want a TPM error response", err)
	}
	if len(rsp) != 10 || binary.BigEndian.Uint32(rsp[2:6]) != 10 {
		t.Fatalf("response %x, want a 10-byte header", rsp)
	}
	// The reference code answers TPM_RC_BAD_TAG (0x01E); libtpms answers
	// TPM_RC_VALUE (0x084). Either way it is an error code, not success.
	if rc := binary.BigEndian.Uint32(rsp[6:10]); rc == 0 {
		t.Fatalf("response code 0 for a bad tag, want an error")
	}
}

func testCommandSize(t *testing.T, tpm tddl.TPM) {
	good := GetRandomCmd(0x8001) // TPM_ST_NO_SESSIONS
	long := append(good[:10:10], make([]byte, tddl.MaxCommandSize+1-10)...)
	binary.BigEndian.PutUint32(long[2:], uint32(len(long)))
	for name, cmd := range map[string][]byte{
		"size field too big":   append(good[:2:2], 0, 0, 0, 13, 0, 0, 1, 0x7B, 0, 16),
		"size field too small": append(good[:2:2], 0, 0, 0, 11, 0, 0, 1, 0x7B, 0, 16),
		"shorter than header":  good[:9],
		"empty":                nil,
		"over MaxCommandSize":  long,
	} {
		if _, err := tpm.Send(cmd); !errors.Is(err, tddl.ErrCommandSize) {
			t.Errorf("%s: Send = %v, want ErrCommandSize", name, err)
		}
	}
	// Rejected commands never reached the TPM, so the stream is intact.
	rsp, err := tpm.Send(good)
	if err != nil || binary.BigEndian.Uint32(rsp[6:10]) != 0 {
		t.Fatalf("GetRandom after rejected commands: %x, %v", rsp, err)
	}
}

func testSendAfterClose(t *testing.T, tpm tddl.TPM) {
	if err := tpm.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := tpm.Send(GetRandomCmd(0x8001)); !errors.Is(err, tddl.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := tpm.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testDeadline: a backend that bounds Send does so, and one that does not
// says so by not implementing tddl.Deadliner, as the Backend declares.
func testDeadline(t *testing.T, tpm tddl.TPM, want bool) {
	d, ok := tpm.(tddl.Deadliner)
	if ok != want {
		t.Fatalf("backend implements tddl.Deadliner: %v, want %v", ok, want)
	}
	if !ok {
		t.Log("no deadline on this backend, as declared: the queue's watchdog closes it instead")
		return
	}
	if err := d.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := tpm.Send(GetRandomCmd(0x8001)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send past deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	if err := d.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	testGetRandom(t, tpm)
}

// testReconnect: a Send fails (it does not hang) while swtpm is down and
// the first Send after its restart succeeds on a fresh connection.
func testReconnect(t *testing.T, tpm tddl.TPM, p *swtpmtest.Swtpm) {
	testGetRandom(t, tpm)
	p.Stop()
	if _, err := tpm.Send(GetRandomCmd(0x8001)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send to a stopped swtpm = %v, want an I/O error before the deadline", err)
	}
	if _, err := tpm.Send(GetRandomCmd(0x8001)); !errors.Is(err, tddl.ErrUnreachable) {
		t.Fatalf("Send while swtpm is down = %v, want ErrUnreachable", err)
	}
	p.Restart(t)
	testGetRandom(t, tpm)
	testPCRExtend(t, tpm)
}

// testRestartWhileIdle: when swtpm restarts between two commands, the
// first command after the restart already succeeds.
func testRestartWhileIdle(t *testing.T, tpm tddl.TPM, p *swtpmtest.Swtpm) {
	testGetRandom(t, tpm)
	p.Stop()
	p.Restart(t)
	testGetRandom(t, tpm)
}
