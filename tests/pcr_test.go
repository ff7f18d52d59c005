package tests

import (
	"bytes"
	"crypto"
	"crypto/rand"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/swtpmtest"
)

var bankHashes = map[string]crypto.Hash{
	"sha1": crypto.SHA1, "sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512,
}

// extended is H(old ‖ digest), the PCR extend rule, computed here.
func extended(h crypto.Hash, oldHex string, digest []byte) string {
	old, err := hex.DecodeString(oldHex)
	if err != nil {
		panic(err)
	}
	hh := h.New()
	hh.Write(old)
	hh.Write(digest)
	return hex.EncodeToString(hh.Sum(nil))
}

func hashOf(h crypto.Hash, data []byte) []byte {
	hh := h.New()
	hh.Write(data)
	return hh.Sum(nil)
}

// readPCR reads a PCR file with cat and checks the format.
func readPCR(t *testing.T, path string) string {
	t.Helper()
	out := sh(t, "cat "+path)
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("%s: %q is not one line", path, out)
	}
	v := strings.TrimSuffix(out, "\n")
	if _, err := hex.DecodeString(v); err != nil || strings.ToLower(v) != v {
		t.Fatalf("%s: %q is not lowercase hex", path, v)
	}
	return v
}

func TestSwtpmExtendDigest(t *testing.T) {
	require(t, "tpm2_pcrread")
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	path := m.Path("pcrs", "sha256", "16")
	old := readPCR(t, path)
	d := make([]byte, 32)
	rand.Read(d)
	sh(t, fmt.Sprintf("echo %x > %s", d, path))
	want := extended(crypto.SHA256, old, d)
	if got := readPCR(t, path); got != want {
		t.Fatalf("after extend: cat = %s, want %s", got, want)
	}
	if got := readPCR(t, m.Path("pcrs", "16")); got != want {
		t.Fatalf("pcrs/16 (default bank sha256) = %s, want %s", got, want)
	}
	// Upper case with 0x, no newline: extends too (the contract's format).
	d2 := make([]byte, 32)
	rand.Read(d2)
	sh(t, fmt.Sprintf("printf '  0x%X\\n' > %s", d2, path))
	want = extended(crypto.SHA256, want, d2)
	m.unmount(t) // swtpm serves one client: tpm2-tools come after
	if got := pcrreadTool(t, tpm.TCTI(), "sha256", 16); got != want {
		t.Fatalf("tpm2_pcrread sha256:16 = %s, want %s", got, want)
	}
}

func TestSwtpmEventEveryBankLikePcrevent(t *testing.T) {
	require(t, "tpm2_pcrread", "tpm2_pcrevent")
	ours, ref := swtpmtest.Start(t), swtpmtest.Start(t)
	m := mountTPM(t, ours.Source())
	small := []byte("boot component v1\n")
	big := make([]byte, 5000) // over PCR_Event's 1024 bytes
	rand.Read(big)
	dir := t.TempDir()
	smallFile, bigFile := filepath.Join(dir, "small"), filepath.Join(dir, "big")
	os.WriteFile(smallFile, small, 0o600)
	os.WriteFile(bigFile, big, 0o600)

	var banks []string
	for _, e := range must(os.ReadDir(m.Path("pcrs"))) {
		if e.IsDir() {
			banks = append(banks, e.Name())
		}
	}
	if strings.Join(banks, " ") != "sha1 sha256 sha384 sha512" {
		t.Fatalf("bank directories = %v, want swtpm's four", banks)
	}
	before := map[string]string{}
	for _, b := range banks {
		before[b] = readPCR(t, m.Path("pcrs", b, "16"))
	}
	sh(t, fmt.Sprintf("cat %s > %s && cat %s > %s", smallFile, m.Path("pcrs", "16"), bigFile, m.Path("pcrs", "16")))
	want := map[string]string{}
	for _, b := range banks {
		h := bankHashes[b]
		want[b] = extended(h, extended(h, before[b], hashOf(h, small)), hashOf(h, big))
		if got := readPCR(t, m.Path("pcrs", b, "16")); got != want[b] {
			t.Errorf("%s:16 through the mount = %s, want %s", b, got, want[b])
		}
	}
	m.unmount(t)
	// The reference: tpm2_pcrevent with the same data on a fresh swtpm.
	run(t, "tpm2_pcrevent", "-T", ref.TCTI(), "16", smallFile)
	run(t, "tpm2_pcrevent", "-T", ref.TCTI(), "16", bigFile)
	for _, b := range banks {
		got, exp := pcrreadTool(t, ours.TCTI(), b, 16), pcrreadTool(t, ref.TCTI(), b, 16)
		if got != exp || got != want[b] {
			t.Errorf("%s:16: tpmfs %s, tpm2_pcrevent %s, computed %s", b, got, exp, want[b])
		}
	}
}

func TestBadDigestsChangeNothing(t *testing.T) {
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	path := m.Path("pcrs", "sha256", "16")
	before := readPCR(t, path)
	good := strings.Repeat("ab", 32)
	bad := []string{
		"",                        // nothing at all
		"abc\n",                   // too short
		good[:62] + "\n",          // one byte short
		good + "ab\n",             // one byte long
		strings.Repeat("zz", 32),  // not hex
		good + "\n" + good + "\n", // two digests
		"0x\n",                    // prefix only
		good[:31] + " " + good[31:] + "\n",
		strings.Repeat("ab", 20) + "\n", // a sha1 digest in the sha256 bank
		strings.Repeat("a", 10000),      // far too long
	}
	for _, in := range bad {
		err := writeFile(path, []byte(in))
		if in == "" {
			// An empty write extends nothing and is not an error.
			if err != nil {
				t.Errorf("empty write: %v", err)
			}
		} else if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("write %q: err = %v, want EINVAL", clip(in), err)
		}
		if got := readPCR(t, path); got != before {
			t.Fatalf("after bad write %q: pcr changed from %s to %s", clip(in), before, got)
		}
	}
	// The shell user sees the error too (dash says only "I/O error" for
	// any write error, so ask bash).
	out, err := runErr("bash", "-c", "echo nothex > "+path)
	if err == nil || !strings.Contains(out, "Invalid argument") {
		t.Errorf("echo nothex: err=%v out=%q, want Invalid argument", err, out)
	}
	// Locality: PCR 17 is not extendable from locality 0: EPERM at open.
	if err := writeFile(m.Path("pcrs", "sha256", "17"), []byte(good+"\n")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("extend pcr 17: err = %v, want EPERM", err)
	}
	if err := writeFile(m.Path("pcrs", "17"), []byte("event")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("event into pcr 17: err = %v, want EPERM", err)
	}
	// Over 1 MiB of event data: EFBIG, nothing measured.
	ev := m.Path("pcrs", "16")
	if err := writeFile(ev, make([]byte, 1<<20+1)); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("event of 1 MiB + 1: err = %v, want EFBIG", err)
	}
	if got := readPCR(t, path); got != before {
		t.Fatalf("after refused writes: pcr changed from %s to %s", before, got)
	}
}

// writeFile writes data in one write and closes, returning the first error.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestReadSeesExtendFromElsewhere(t *testing.T) {
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	path := m.Path("pcrs", "sha256", "16")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	n, err := f.ReadAt(buf, 0)
	if n == 0 {
		t.Fatal(err)
	}
	old := strings.TrimSpace(string(buf[:n]))
	d := make([]byte, 32)
	rand.Read(d)
	sh(t, fmt.Sprintf("echo %x > %s", d, path)) // another process
	want := extended(crypto.SHA256, old, d)
	n, _ = f.ReadAt(buf, 0)
	if got := strings.TrimSpace(string(buf[:n])); got != want {
		t.Errorf("pread on the open file = %s, want %s", got, want)
	}
	if got := readPCR(t, path); got != want {
		t.Errorf("cat = %s, want %s", got, want)
	}
}

func TestRandomStreams(t *testing.T) {
	for _, src := range []string{"swtpm", "sim:"} {
		t.Run(src, func(t *testing.T) {
			source := src
			if src == "swtpm" {
				source = swtpmtest.Start(t).Source()
			}
			m := mountTPM(t, source)
			out := sh(t, "head -c 1048576 "+m.Path("random")+" | wc -c")
			if strings.TrimSpace(out) != "1048576" {
				t.Fatalf("head -c 1M random | wc -c = %q", out)
			}
			a := sh(t, "head -c 32 "+m.Path("random")+" | od -An -tx1")
			b := sh(t, "head -c 32 "+m.Path("random")+" | od -An -tx1")
			if a == b {
				t.Fatalf("two reads of random are equal: %s", a)
			}
			chunk := make([]byte, 65536)
			f := must(os.Open(m.Path("random")))
			defer f.Close()
			n, err := f.Read(chunk)
			if err != nil || n != len(chunk) {
				t.Fatalf("read 64 KiB: n=%d err=%v", n, err)
			}
			if bytes.Count(chunk, []byte{0}) > 1024 {
				t.Errorf("64 KiB of random has %d zero bytes", bytes.Count(chunk, []byte{0}))
			}
		})
	}
}

func TestSimMount(t *testing.T) {
	m := mountTPM(t, "sim:")
	info := sh(t, "cat "+m.Path("info"))
	for _, want := range []string{"family: 2.0\n", "source: sim:\n", "banks: "} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
	old := readPCR(t, m.Path("pcrs", "23"))
	sh(t, "echo -n hello > "+m.Path("pcrs", "23"))
	want := extended(crypto.SHA256, old, hashOf(crypto.SHA256, []byte("hello")))
	if got := readPCR(t, m.Path("pcrs", "sha256", "23")); got != want {
		t.Errorf("after event: %s, want %s", got, want)
	}
}
