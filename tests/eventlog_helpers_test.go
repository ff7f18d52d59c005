package tests

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// These helpers read tpmfs's event log on their own, from RFC 7464 and
// the CEL-JSON field names, without tpmfs's eventlog package, so that a
// replay here is an independent check of what the mount wrote.

// celRecord is one record of eventlog/tpmfs.
type celRecord struct {
	Recnum  int `json:"recnum"`
	PCR     int `json:"pcr"`
	Digests []struct {
		HashAlg string `json:"hashAlg"`
		Digest  string `json:"digest"`
	} `json:"digests"`
	ContentType string         `json:"content_type"`
	Content     map[string]any `json:"content"`
}

// parseCEL splits a JSON text sequence and decodes each record; every
// element must be RS, JSON, LF.
func parseCEL(t *testing.T, data []byte) []celRecord {
	t.Helper()
	if len(data) == 0 || data[0] != 0x1e {
		t.Fatalf("event log does not start with RS: %q", data[:min(len(data), 40)])
	}
	var recs []celRecord
	for i, elem := range bytes.Split(data[1:], []byte{0x1e}) {
		if !bytes.HasSuffix(elem, []byte("\n")) || bytes.Count(elem, []byte("\n")) != 1 {
			t.Fatalf("record %d is not one line ending in LF: %q", i, elem)
		}
		var r celRecord
		dec := json.NewDecoder(bytes.NewReader(elem))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("record %d: %v: %q", i, err, elem)
		}
		if r.Recnum != i || r.ContentType != "tpmfs" {
			t.Fatalf("record %d: recnum %d, content_type %q", i, r.Recnum, r.ContentType)
		}
		recs = append(recs, r)
	}
	return recs
}

// readCEL reads and parses a log file.
func readCEL(t *testing.T, path string) []celRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseCEL(t, b)
}

// replayCEL replays records from the PC Client reset values: "bank:pcr"
// → hex, for every bank a record names and every PCR.
func replayCEL(t *testing.T, recs []celRecord) map[string]string {
	t.Helper()
	vals := map[string][]byte{}
	value := func(bank string, pcr int) []byte {
		k := fmt.Sprintf("%s:%d", bank, pcr)
		if v, ok := vals[k]; ok {
			return v
		}
		v := make([]byte, bankHashes[bank].Size())
		if pcr >= 17 && pcr <= 22 {
			for i := range v {
				v[i] = 0xff
			}
		}
		return v
	}
	for _, r := range recs {
		for _, d := range r.Digests {
			h, ok := bankHashes[d.HashAlg]
			if !ok {
				t.Fatalf("record %d: hashAlg %q", r.Recnum, d.HashAlg)
			}
			digest, err := hex.DecodeString(d.Digest)
			if err != nil || len(digest) != h.Size() {
				t.Fatalf("record %d: %s digest %q", r.Recnum, d.HashAlg, d.Digest)
			}
			hh := h.New()
			hh.Write(value(d.HashAlg, r.PCR))
			hh.Write(digest)
			vals[fmt.Sprintf("%s:%d", d.HashAlg, r.PCR)] = hh.Sum(nil)
		}
	}
	out := map[string]string{}
	for _, b := range []string{"sha1", "sha256", "sha384", "sha512"} {
		for pcr := 0; pcr < 24; pcr++ {
			out[fmt.Sprintf("%s:%d", b, pcr)] = hex.EncodeToString(value(b, pcr))
		}
	}
	return out
}

// field returns a content field of r as a string ("" if absent).
func (r celRecord) field(name string) string {
	v, ok := r.Content[name]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// digestOf returns r's digest for bank ("" if none).
func (r celRecord) digestOf(bank string) string {
	for _, d := range r.Digests {
		if d.HashAlg == bank {
			return d.Digest
		}
	}
	return ""
}

func sha(h crypto.Hash, data []byte) string { return hex.EncodeToString(hashOf(h, data)) }

// verifyLines reads eventlog/verify: "bank:pcr" → "ok" or the rest.
func verifyLines(t *testing.T, m *mount) map[string]string {
	t.Helper()
	out := sh(t, "cat "+m.Path("eventlog", "verify"))
	v := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		k, rest, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("verify line %q", line)
		}
		v[k] = rest
	}
	return v
}

// securityfsDir lays out a directory as the kernel's securityfs, with
// files given by their path under it.
func securityfsDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o440); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fixture reads a file of testdata/eventlog (see its README).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "eventlog", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// killDetach kills a mount's daemon with SIGKILL, as the OOM killer
// would, and detaches its dead mount.
func (m *mount) killDetach(t *testing.T) {
	t.Helper()
	m.kill9(t)
	if err := syscall.Unmount(m.Dir, syscall.MNT_DETACH); err != nil && isMounted(m.Dir) {
		t.Fatalf("detach the dead mount: %v", err)
	}
}
