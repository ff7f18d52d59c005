package tests

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quoteAnswer is what ak/NAME/quote answers, the base64 fields decoded.
type quoteAnswer struct {
	Attest, Signature, PCRsSerialized []byte
	PCRs                              map[string]map[string]string
	Selection, Nonce, Keylime         string
}

func parseQuote(t *testing.T, out string) quoteAnswer {
	t.Helper()
	var raw struct {
		Attest         string                       `json:"attest"`
		Signature      string                       `json:"signature"`
		PCRsSerialized string                       `json:"pcrs_serialized"`
		PCRs           map[string]map[string]string `json:"pcrs"`
		Selection      string                       `json:"selection"`
		Nonce          string                       `json:"nonce"`
		Keylime        string                       `json:"keylime"`
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("quote answer is not one line: %q", out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("quote answer %q: %v", out, err)
	}
	q := quoteAnswer{PCRs: raw.PCRs, Selection: raw.Selection, Nonce: raw.Nonce, Keylime: raw.Keylime}
	for _, f := range []struct {
		dst *[]byte
		b64 string
	}{{&q.Attest, raw.Attest}, {&q.Signature, raw.Signature}, {&q.PCRsSerialized, raw.PCRsSerialized}} {
		b, err := base64.StdEncoding.DecodeString(f.b64)
		if err != nil || len(b) == 0 {
			t.Fatalf("quote answer field %q: %v", f.b64, err)
		}
		*f.dst = b
	}
	if want := "r" + raw.Attest + ":" + raw.Signature + ":" + raw.PCRsSerialized; q.Keylime != want {
		t.Errorf("keylime string %q, want %q", q.Keylime, want)
	}
	return q
}

// quoteScript is the shell transaction on a quote file.
func quoteScript(path, request string) string {
	return "exec 3<>" + path + " && echo '" + request + "' >&3 && cat <&3"
}

// sharedDir is a fresh directory other users can read.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := mountDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFiles writes name → content into dir, readable by all.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkquote runs tpm2_checkquote on the quote's parts in dir with the
// key at pub, and returns its error.
func checkquote(t *testing.T, dir, pub string, q quoteAnswer, nonce string) error {
	t.Helper()
	writeFiles(t, dir, map[string][]byte{"attest": q.Attest, "sig": q.Signature, "pcrs": q.PCRsSerialized})
	_, err := runErr("tpm2_checkquote", "-u", pub, "-m", filepath.Join(dir, "attest"), "-s", filepath.Join(dir, "sig"),
		"-f", filepath.Join(dir, "pcrs"), "-g", "sha256", "-q", nonce)
	return err
}
