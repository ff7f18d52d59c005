package tests

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// TestNVIndices: an index tpm2_nvdefine made shows up in nv/ and reads
// as tpm2_nvwrite wrote it, for every user its attributes allow; one
// defined through nv/ (truncate -s) and written through it, in more
// than one NV buffer, reads back with tpm2_nvread against the swtpm
// after unmount; users the modes leave out get EACCES.
func TestNVIndices(t *testing.T) {
	require(t, "tpm2_nvdefine", "tpm2_nvwrite", "tpm2_nvread", "tpm2_nvreadpublic", "setpriv")
	tpm := swtpmtest.StartEK(t)
	dir := sharedDir(t)
	before := []byte("defined by tpm2-tools before the mount")
	tpm.Tool(t, nil, "tpm2_nvdefine", "0x1500010", "-s", itoa(len(before)), "-a", "ownerread|ownerwrite|authread|authwrite|no_da")
	tpm.Tool(t, before, "tpm2_nvwrite", "0x1500010", "-i", "-")
	tpm.Tool(t, nil, "tpm2_nvdefine", "0x1500011", "-s", "8", "-a", "ownerread|ownerwrite|no_da")

	m := mountShared(t, tpm.Source(), "allow_other")
	nv := func(name string) string { return m.Path("nv", name) }
	sum := sha256.Sum256(before)
	if out := nobody.must(t, "sha256sum "+nv("0x01500010")); !strings.HasPrefix(out, hex.EncodeToString(sum[:])) {
		t.Errorf("nobody reads 0x01500010 as %s", out)
	}
	if got := statAttr(t, nv("0x01500010")); got.mode != syscall.S_IFREG|0o644 {
		t.Errorf("0x01500010: %v", got)
	}
	if got := statAttr(t, nv("0x01500011")); got.mode != syscall.S_IFREG|0o600 {
		t.Errorf("owner-only 0x01500011: %v", got)
	}
	nobody.refused(t, syscall.EACCES, "echo x > "+nv("0x01500010"))
	nobody.refused(t, syscall.EACCES, "cat "+nv("0x01500011"))
	nobody.refused(t, syscall.EACCES, "truncate -s 8 "+nv("0x01500020"))
	nobody.refused(t, syscall.EACCES, "rm -f "+nv("0x01500010"))
	sh(t, "echo root > "+nv("0x01500011")) // owner authorisation
	nobody.refused(t, syscall.EACCES, "rm -f "+nv("0x01c00002"))
	root.refused(t, syscall.EPERM, "rm -f "+nv("0x01c00002"))

	// Defined and written through nv/, across NV buffers (swtpm's is 1 KiB).
	data := make([]byte, 1500)
	rand.Read(data)
	writeFiles(t, dir, map[string][]byte{"data": data})
	sh(t, "truncate -s 1500 "+nv("0x01500020")+" && cp "+filepath.Join(dir, "data")+" "+nv("0x01500020"))
	if got, err := os.ReadFile(nv("0x01500020")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back through nv/: %v", err)
	}
	// A descriptor of an index that is undefined and defined again
	// (another size) fails, and never reaches the new index.
	out, err := root.sh("exec 3<" + nv("0x01500020") + " && rm " + nv("0x01500020") + " && truncate -s 16 " + nv("0x01500020") + " && cat <&3")
	if err == nil || !strings.Contains(out, "Stale file handle") {
		t.Errorf("read through a descriptor of the undefined index: %v %q", err, out)
	}
	sh(t, "rm "+nv("0x01500020")+" && truncate -s 1500 "+nv("0x01500020")+" && cp "+filepath.Join(dir, "data")+" "+nv("0x01500020"))
	m.unmount(t)

	got := tpm.Tool(t, nil, "tpm2_nvread", "0x1500020")
	if !bytes.Equal(got, data) {
		t.Errorf("tpm2_nvread after unmount: %d bytes, differ from the %d written", len(got), len(data))
	}
	pub := string(tpm.Tool(t, nil, "tpm2_nvreadpublic", "0x1500020"))
	if !strings.Contains(pub, "authwrite|authread|no_da|written") || !strings.Contains(pub, "size: 1500") {
		t.Errorf("tpm2_nvreadpublic:\n%s", pub)
	}
	if got := tpm.Tool(t, nil, "tpm2_nvread", "0x1500011", "-C", "o"); !bytes.HasPrefix(got, []byte("root\n")) {
		t.Errorf("0x01500011 after root's write: %q", got)
	}

	// nv_mode=0666: everyone writes what the empty auth value allows.
	m = mountShared(t, tpm.Source(), "allow_other", "nv_mode=0666")
	nobody.must(t, "printf nobody > "+nv("0x01500010"))
	if got := nobody.must(t, "head -c 6 "+nv("0x01500010")); got != "nobody" {
		t.Errorf("after nobody's write: %q", got)
	}
	nobody.refused(t, syscall.EACCES, "cat "+nv("0x01500011"))
}

// TestNVCounterThroughTpmrm0: an index of another type, defined with
// tpm2-tools through the mount's own tpmrm0, reads and writes by its
// type through nv/.
func TestNVCounterThroughTpmrm0(t *testing.T) {
	require(t, "tpm2_nvdefine", "setpriv")
	tpm := swtpmtest.Start(t)
	m := mountShared(t, tpm.Source(), "allow_other", "nv_mode=0666")
	tcti := "device:" + m.Path("tpmrm0")
	run(t, "tpm2_nvdefine", "-T", tcti, "0x1500030", "-s", "8", "-a", "nt=counter|authread|authwrite|no_da")
	run(t, "tpm2_nvdefine", "-T", tcti, "0x1500031", "-s", "8", "-a", "nt=bits|authread|authwrite|no_da")
	run(t, "tpm2_nvdefine", "-T", tcti, "0x1500032", "-s", "32", "-a", "nt=extend|authread|authwrite|no_da", "-g", "sha256")
	c := m.Path("nv", "0x01500030")
	nobody.refused(t, syscall.ENODATA, "cat "+c)
	nobody.must(t, "echo > "+c+" && echo > "+c)
	first := strings.TrimSpace(nobody.must(t, "cat "+c))
	nobody.must(t, "echo > "+c)
	if got := strings.TrimSpace(nobody.must(t, "cat "+c)); got != itoa(atoi(first)+1) {
		t.Errorf("counter %s after %s", got, first)
	}
	b := m.Path("nv", "0x01500031")
	nobody.must(t, "echo 0x8000000000000001 > "+b+" && echo 2 > "+b)
	if got := nobody.must(t, "cat "+b); got != "8000000000000003\n" {
		t.Errorf("bits %q", got)
	}
	// coreutils' echo: dash's reports every write error as an I/O error.
	nobody.refused(t, syscall.EINVAL, "/bin/echo nothex > "+b)
	e := m.Path("nv", "0x01500032")
	nobody.must(t, "printf event > "+e)
	h := sha256.New()
	h.Write(make([]byte, 32))
	h.Write([]byte("event"))
	if got := nobody.must(t, "cat "+e); got != hex.EncodeToString(h.Sum(nil))+"\n" {
		t.Errorf("extend index %q", got)
	}
	nobody.refused(t, syscall.EPERM, "truncate -s 64 "+e)
}
