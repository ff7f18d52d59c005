package tests

import (
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
)

// tcti is the tpm2-tools -T argument for a mount's raw device.
func tcti(m *mount) string { return "device:" + m.Path("tpmrm0") }

func TestTpmrm0WithTpm2Tools(t *testing.T) {
	require(t, "tpm2_createprimary", "tpm2_unseal", "tpm2_getcap")
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	T := tcti(m)
	if out := run(t, "tpm2_getrandom", "-T", T, "--hex", "16"); len(strings.TrimSpace(out)) != 32 {
		t.Errorf("tpm2_getrandom --hex 16 = %q", out)
	}
	// tpm2_pcrread through tpmrm0 agrees with cat.
	if got, want := pcrreadTool(t, T, "sha256", 16), readPCR(t, m.Path("pcrs", "sha256", "16")); got != want {
		t.Errorf("tpm2_pcrread = %s, cat = %s", got, want)
	}
	// createprimary → create → load → unseal, each its own process,
	// through context files (each process's objects are flushed at close).
	dir := t.TempDir()
	f := func(n string) string { return filepath.Join(dir, n) }
	run(t, "tpm2_createprimary", "-T", T, "-C", "o", "-c", f("primary.ctx"))
	secret := "raw channel secret"
	os.WriteFile(f("secret"), []byte(secret), 0o600)
	run(t, "tpm2_create", "-T", T, "-C", f("primary.ctx"), "-u", f("s.pub"), "-r", f("s.priv"), "-i", f("secret"))
	run(t, "tpm2_load", "-T", T, "-C", f("primary.ctx"), "-u", f("s.pub"), "-r", f("s.priv"), "-c", f("s.ctx"))
	if got := run(t, "tpm2_unseal", "-T", T, "-c", f("s.ctx")); got != secret {
		t.Errorf("tpm2_unseal = %q, want %q", got, secret)
	}
	// Twenty primaries in a row: the TPM's 3 slots are never exhausted.
	for i := 0; i < 20; i++ {
		run(t, "tpm2_createprimary", "-T", T, "-C", "o", "-G", "ecc", "-c", f(fmt.Sprintf("p%d.ctx", i)))
	}
	// Each client sees only its own transient objects: none here.
	if out := run(t, "tpm2_getcap", "-T", T, "handles-transient"); strings.TrimSpace(out) != "" {
		t.Errorf("a fresh client sees transient handles: %q", out)
	}
	m.unmount(t)
	if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), "handles-transient"); strings.TrimSpace(out) != "" {
		t.Errorf("transient handles left in the TPM after unmount: %q", out)
	}
	if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), "handles-loaded-session"); strings.TrimSpace(out) != "" {
		t.Errorf("sessions left in the TPM after unmount: %q", out)
	}
}

func TestTpmrm0ParallelClients(t *testing.T) {
	require(t, "tpm2_createprimary", "tpm2_unseal")
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	T := tcti(m)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	// Readers of PCRs through cat while the clients work.
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if out, err := shErr("cat " + m.Path("pcrs", "sha256", "00")); err != nil {
				errs <- fmt.Errorf("cat during raw clients: %w: %s\n%s", err, out, m.Stderr())
				return
			}
		}
	}()
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			dir := t.TempDir()
			f := func(n string) string { return filepath.Join(dir, n) }
			secret := fmt.Sprintf("client %d secret", c)
			os.WriteFile(f("secret"), []byte(secret), 0o600)
			for i := 0; i < 3; i++ {
				steps := [][]string{
					{"tpm2_createprimary", "-T", T, "-C", "o", "-c", f("p.ctx")},
					{"tpm2_create", "-T", T, "-C", f("p.ctx"), "-u", f("s.pub"), "-r", f("s.priv"), "-i", f("secret")},
					{"tpm2_load", "-T", T, "-C", f("p.ctx"), "-u", f("s.pub"), "-r", f("s.priv"), "-c", f("s.ctx")},
				}
				for _, s := range steps {
					if out, err := runErr(s[0], s[1:]...); err != nil {
						errs <- fmt.Errorf("client %d: %s: %v\n%s", c, s[0], err, out)
						return
					}
				}
				out, err := runErr("tpm2_unseal", "-T", T, "-c", f("s.ctx"))
				if err != nil || out != secret {
					errs <- fmt.Errorf("client %d: unseal = %q, %v", c, out, err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	m.unmount(t)
	if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), "handles-transient"); strings.TrimSpace(out) != "" {
		t.Errorf("transient handles left after unmount: %q", out)
	}
}

func TestTpmrm0RefusesBadCommands(t *testing.T) {
	m := mountTPM(t, "sim:")
	f, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Larger than 4096 bytes: E2BIG.
	if _, err := f.Write(make([]byte, 4097)); !errors.Is(err, syscall.E2BIG) {
		t.Errorf("4097-byte write: err = %v, want E2BIG", err)
	}
	// Shorter than its header says: EINVAL.
	short := []byte{0x80, 0x01, 0, 0, 0, 100, 0, 0, 0x01, 0x7b, 0, 8}
	if _, err := f.Write(short); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("short write: err = %v, want EINVAL", err)
	}
	// Garbage of a valid size: a TPM error response, not a crash.
	garbage := make([]byte, 64)
	rand.Read(garbage)
	binary.BigEndian.PutUint32(garbage[2:6], 64)
	if _, err := f.Write(garbage); err != nil {
		t.Fatalf("garbage write: %v", err)
	}
	// A second write before the response is read: EBUSY.
	if _, err := f.Write(garbage); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("write with a response pending: err = %v, want EBUSY", err)
	}
	// Partial reads of the response.
	hdr := make([]byte, 6)
	if n, err := f.Read(hdr); err != nil || n != 6 {
		t.Fatalf("read response header part: n=%d err=%v", n, err)
	}
	size := int(binary.BigEndian.Uint32(hdr[2:6]))
	rest := make([]byte, 100)
	n, err := f.Read(rest)
	if err != nil || 6+n != size || size < 10 {
		t.Fatalf("read rest: n=%d err=%v size=%d", n, err, size)
	}
	if rc := binary.BigEndian.Uint32(rest[0:4]); rc == 0 {
		t.Errorf("garbage command answered with success")
	}
	// And the daemon still serves.
	if out := sh(t, "head -c 8 "+m.Path("random")+" | wc -c"); strings.TrimSpace(out) != "8" {
		t.Errorf("random after garbage: %q", out)
	}
	// A well-formed command through the same file still works.
	rsp, err := tpm2.GetRandom{BytesRequested: 8}.Execute(transport.FromReadWriter(f))
	if err != nil || len(rsp.RandomBytes.Buffer) != 8 {
		t.Errorf("GetRandom after garbage: %v", err)
	}
}

// A second tpmfs whose SOURCE is the first mount's tpmrm0 exercises the
// character-device backend (no kernel TPM exists on these machines).
func TestDeviceBackendOverTpmrm0(t *testing.T) {
	tpm := swtpmtest.Start(t)
	first := mountTPM(t, tpm.Source())
	second := mountTPM(t, "device:"+first.Path("tpmrm0"), "state="+t.TempDir())
	if got, want := readPCR(t, second.Path("pcrs", "sha256", "16")), readPCR(t, first.Path("pcrs", "sha256", "16")); got != want {
		t.Errorf("pcr 16 through the device backend = %s, direct = %s", got, want)
	}
	old := readPCR(t, first.Path("pcrs", "sha256", "16"))
	d := make([]byte, 32)
	rand.Read(d)
	sh(t, fmt.Sprintf("echo %x > %s", d, second.Path("pcrs", "sha256", "16")))
	if got, want := readPCR(t, first.Path("pcrs", "sha256", "16")), extended(crypto.SHA256, old, d); got != want {
		t.Errorf("extend through the second mount: first sees %s, want %s", got, want)
	}
	if out := sh(t, "head -c 4096 "+second.Path("random")+" | wc -c"); strings.TrimSpace(out) != "4096" {
		t.Errorf("random through the device backend: %q", out)
	}
	info := sh(t, "cat "+second.Path("info"))
	if !strings.Contains(info, "source: device:"+first.Path("tpmrm0")) {
		t.Errorf("info of the second mount:\n%s", info)
	}
	second.unmount(t)
}

// Five tpmrm0 opens that each start a session, held open together:
// once they close, the TPM keeps none of their sessions, loaded or saved
// (the resource manager keeps a client's sessions saved in the TPM
// between its commands, so only the flush at close ends them), and after
// unmount tpm2_getcap on swtpm itself finds none either.
func TestTpmrm0ClosedClientsLeaveNoSessions(t *testing.T) {
	require(t, "tpm2_getcap")
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	var files []*os.File
	for i := range 5 {
		f, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		// An unsalted, unbound HMAC session, left for the close to end.
		_, _, err = tpm2.HMACSession(transport.FromReadWriter(f), tpm2.TPMAlgSHA256, 16)
		if err != nil {
			t.Fatalf("open %d: HMAC session through tpmrm0: %v", i, err)
		}
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A client's release reaches the daemon after close(2) returns;
	// unmounting waits for every release.
	m.unmount(t)
	for _, what := range []string{"handles-loaded-session", "handles-saved-session"} {
		if out := run(t, "tpm2_getcap", "-T", tpm.TCTI(), what); strings.TrimSpace(out) != "" {
			t.Errorf("tpm2_getcap %s after the clients closed and unmount: %q", what, out)
		}
	}
}
