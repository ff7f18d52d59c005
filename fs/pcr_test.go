package fs

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/faketpm"
	"tpmfs/tpmcore/pcrsel"
)

func readPCR(t *testing.T, f *fixture, p string) string {
	t.Helper()
	b, err := os.ReadFile(f.path(p))
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

// extended is H(old ‖ d), computed here.
func extended(old, d []byte) []byte {
	h := sha256.New()
	h.Write(old)
	h.Write(d)
	return h.Sum(nil)
}

func TestPCRReadAndExtend(t *testing.T) {
	f := mountFake(t)
	zero := strings.Repeat("0", 64) + "\n"
	if got := readPCR(t, f, "pcrs/sha256/16"); got != zero {
		t.Fatalf("PCR 16 = %q", got)
	}
	if got := readPCR(t, f, "pcrs/sha1/16"); got != strings.Repeat("0", 40)+"\n" {
		t.Errorf("sha1 PCR 16 = %q", got)
	}
	d := sha256.Sum256([]byte("event"))
	if err := os.WriteFile(f.path("pcrs/sha256/16"), []byte("0X"+strings.ToUpper(hex.EncodeToString(d[:]))+"\n"), 0); err != nil {
		t.Fatal(err)
	}
	want := extended(make([]byte, 32), d[:])
	if got := readPCR(t, f, "pcrs/16"); got != hex.EncodeToString(want)+"\n" {
		t.Errorf("after extend: %q, want %x", got, want)
	}
	// Bad digests: EINVAL at write, the PCR unchanged.
	for _, bad := range []string{"abc\n", strings.Repeat("g", 64) + "\n", strings.Repeat("a", 66) + "\n", strings.Repeat("a", 64) + "\nmore\n"} {
		err := os.WriteFile(f.path("pcrs/sha256/16"), []byte(bad), 0)
		wantErrno(t, "extend with "+bad[:min(len(bad), 10)], err, syscall.EINVAL)
	}
	if got := readPCR(t, f, "pcrs/16"); got != hex.EncodeToString(want)+"\n" {
		t.Errorf("after bad writes: %q", got)
	}
	// A PCR locality 0 may not extend: EPERM at open.
	_, err := os.OpenFile(f.path("pcrs/sha256/17"), os.O_WRONLY, 0)
	wantErrno(t, "open PCR 17 for writing", err, syscall.EPERM)
}

// TestPCREvent: event data is measured into every bank at close; through
// an O_RDWR descriptor that read the value first, only the bytes written
// are measured.
func TestPCREvent(t *testing.T) {
	f := mountFake(t)
	fd, err := os.OpenFile(f.path("pcrs/15"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 100)
	if n, _ := fd.Read(value); n != 65 {
		t.Fatalf("read %d bytes of the value", n)
	}
	fd.Write([]byte("my "))
	fd.Write([]byte("event"))
	if err := fd.Close(); err != nil {
		t.Fatal(err)
	}
	d256 := sha256.Sum256([]byte("my event"))
	d1 := sha1.Sum([]byte("my event"))
	h1 := sha1.New()
	h1.Write(make([]byte, 20))
	h1.Write(d1[:])
	if got := readPCR(t, f, "pcrs/sha256/15"); got != hex.EncodeToString(extended(make([]byte, 32), d256[:]))+"\n" {
		t.Errorf("sha256 PCR 15 after the event: %q", got)
	}
	if got := readPCR(t, f, "pcrs/sha1/15"); got != hex.EncodeToString(h1.Sum(nil))+"\n" {
		t.Errorf("sha1 PCR 15 after the event: %q", got)
	}
	// Over 1 MiB: EFBIG, nothing measured.
	err = os.WriteFile(f.path("pcrs/14"), make([]byte, 1<<20+1), 0)
	wantErrno(t, "1 MiB + 1 of event data", err, syscall.EFBIG)
	if v, _ := f.tpm.ReadPCR(nil, pcrsel.SHA256, 14); hex.EncodeToString(v) != strings.Repeat("0", 64) {
		t.Errorf("PCR 14 changed after a refused event: %x", v)
	}
}

func TestPCRFailureIsEIO(t *testing.T) {
	f := mountFake(t)
	f.tpm.Fail(faketpm.OpPCR, os.ErrDeadlineExceeded)
	_, err := os.ReadFile(f.path("pcrs/00"))
	wantErrno(t, "read with the TPM failing", err, syscall.EIO)
	if !strings.Contains(f.log.String(), "operation failed") {
		t.Errorf("failure not logged:\n%s", f.log)
	}
}
