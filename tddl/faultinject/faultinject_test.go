package faultinject_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tddl"
	"tpmfs/tddl/faultinject"
	"tpmfs/tddl/source"
)

// newFaulty wraps the in-process simulator, a real TPM, so that every
// fault is checked against what the TPM really did.
func newFaulty(t *testing.T) *faultinject.Faulty {
	t.Helper()
	inner, err := tddl.Open(source.Config{Kind: source.Sim})
	if errors.Is(err, tddl.ErrNotBuiltIn) {
		swtpmtest.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	f := faultinject.New(inner)
	t.Cleanup(func() { f.Close() })
	return f
}

const pcr = 16

func readPCR(t *testing.T, tpm tddl.TPM) []byte {
	t.Helper()
	rsp, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{
		PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(pcr)}},
	}}.Execute(tpm)
	if err != nil {
		t.Fatalf("PCRRead: %v", err)
	}
	return rsp.PCRValues.Digests[0].Buffer
}

func extend(tpm tddl.TPM, d []byte) error {
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d}}},
	}.Execute(tpm)
	return err
}

func getRandom(t *testing.T, tpm tddl.TPM) {
	t.Helper()
	if r, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(tpm); err != nil || len(r.RandomBytes.Buffer) != 8 {
		t.Fatalf("GetRandom = %v, %v", r, err)
	}
}

// TestDrop: DropRequest leaves the PCR alone, DropResponse extends it, and
// both report a connection loss.
func TestDrop(t *testing.T) {
	f := newFaulty(t)
	d := sha256.Sum256([]byte("x"))
	before := readPCR(t, f)

	f.SetMode(faultinject.DropRequest)
	if err := extend(f, d[:]); !errors.Is(err, faultinject.ErrDropped) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("extend with DropRequest = %v, want ErrDropped and io.ErrUnexpectedEOF", err)
	}
	f.SetMode(faultinject.PassThrough)
	if got := readPCR(t, f); !bytes.Equal(got, before) {
		t.Fatalf("DropRequest reached the TPM: PCR %x, want %x", got, before)
	}

	f.SetMode(faultinject.DropResponse)
	if err := extend(f, d[:]); !errors.Is(err, faultinject.ErrDropped) {
		t.Fatalf("extend with DropResponse = %v, want ErrDropped", err)
	}
	f.SetMode(faultinject.PassThrough)
	want := sha256.Sum256(append(before, d[:]...))
	if got := readPCR(t, f); !bytes.Equal(got, want[:]) {
		t.Fatalf("DropResponse: PCR %x, want the extended %x", got, want)
	}
}

func TestTruncateAndCorrupt(t *testing.T) {
	f := newFaulty(t)
	cmd := make([]byte, 12) // TPM2_GetRandom(16), Part 3, 16.1
	binary.BigEndian.PutUint16(cmd, 0x8001)
	binary.BigEndian.PutUint32(cmd[2:], 12)
	binary.BigEndian.PutUint32(cmd[6:], 0x17B)
	binary.BigEndian.PutUint16(cmd[10:], 16)

	f.SetMode(faultinject.Truncate)
	rsp, err := f.Send(cmd)
	if err != nil || len(rsp) == 0 || len(rsp) >= 10+2+16 {
		t.Fatalf("Truncate: %x, %v; want fewer than the %d bytes of a GetRandom(16) response", rsp, err, 10+2+16)
	}

	f.SetMode(faultinject.Corrupt)
	rsp, err = f.Send(cmd)
	if err != nil || len(rsp) != 10+2+16 || binary.BigEndian.Uint32(rsp[2:6]) != uint32(len(rsp)) {
		t.Fatalf("Corrupt: %x, %v; want a well-framed 28-byte response", rsp, err)
	}
	if rc := binary.BigEndian.Uint32(rsp[6:10]); rc != ^uint32(0) {
		t.Fatalf("Corrupt: response code 0x%x, want the flipped success code 0xffffffff", rc)
	}
	if _, err := (tpm2.GetRandom{BytesRequested: 16}).Execute(f); err == nil {
		t.Fatal("go-tpm accepted a corrupted response")
	}
}

func TestRetryForeverAndN(t *testing.T) {
	f := newFaulty(t)
	d := sha256.Sum256([]byte("y"))
	before := readPCR(t, f)
	f.SetMode(faultinject.Retry)
	for range 3 {
		if err := extend(f, d[:]); !errors.Is(err, tpm2.TPMRCRetry) {
			t.Fatalf("extend with Retry = %v, want TPM_RC_RETRY", err)
		}
	}
	f.SetModeN(faultinject.Retry, 2)
	for i := range 2 {
		if err := extend(f, d[:]); !errors.Is(err, tpm2.TPMRCRetry) {
			t.Fatalf("extend %d with Retry×2 = %v, want TPM_RC_RETRY", i, err)
		}
	}
	// The fault is spent: this read and the PCR show that no retried
	// extend reached the TPM.
	if got := readPCR(t, f); !bytes.Equal(got, before) {
		t.Fatalf("a retried extend reached the TPM: PCR %x, want %x", got, before)
	}
	if n := f.Sends(); n != 7 {
		t.Fatalf("Sends = %d, want 7", n)
	}
}

func TestDelay(t *testing.T) {
	f := newFaulty(t)
	f.SetDelay(time.Millisecond)
	getRandom(t, f)

	f.SetDelay(time.Hour)
	if err := f.SetDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(f); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("delayed Send past deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	if err := f.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(f); done <- err }()
	// Wait, bounded, until that third Send is in its delay.
	for start := time.Now(); f.Sends() < 3; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the delayed Send never started")
		}
	}
	f.Close()
	select {
	case err := <-done:
		if !errors.Is(err, tddl.ErrClosed) {
			t.Fatalf("delayed Send after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the delay")
	}
	if _, err := f.Send(nil); !errors.Is(err, tddl.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
}

// TestConcurrentSettings changes faults while commands run; run it with
// -race. Every Send must end in one of the injected outcomes.
func TestConcurrentSettings(t *testing.T) {
	f := newFaulty(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		modes := []faultinject.Mode{faultinject.PassThrough, faultinject.Retry, faultinject.DropRequest, faultinject.Corrupt}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f.SetMode(modes[i%len(modes)])
			f.SetDelay(time.Duration(i%2) * time.Microsecond)
			f.SetDeadline(time.Time{})
		}
	}()
	for range 200 {
		_, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(f)
		if err != nil && !errors.Is(err, tpm2.TPMRCRetry) && !errors.Is(err, faultinject.ErrDropped) &&
			!isCorrupt(err) {
			t.Errorf("unexpected error %v", err)
		}
	}
	close(stop)
	wg.Wait()
}

// isCorrupt recognises go-tpm's reading of a flipped response code.
func isCorrupt(err error) bool {
	var rc tpm2.TPMRC
	return errors.As(err, &rc) && rc == tpm2.TPMRC(0xffffffff)
}

func TestModeString(t *testing.T) {
	if s := faultinject.Retry.String(); s != "Retry" {
		t.Errorf("Retry.String() = %q", s)
	}
	if s := faultinject.Mode(42).String(); s != "Mode(42)" {
		t.Errorf("Mode(42).String() = %q", s)
	}
}
