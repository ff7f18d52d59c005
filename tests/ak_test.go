package tests

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	goattest "github.com/google/go-attestation/attest"

	"tpmfs/internal/swtpmtest"
)

// TestAKQuoteVerifies: a quote read from ak/NAME/quote by an
// unprivileged user verifies with tpm2_checkquote and with
// go-attestation's AKPublic.Verify, for ECC and RSA keys; another nonce
// or a changed PCR value fails both; its values are the PCRs'.
func TestAKQuoteVerifies(t *testing.T) {
	require(t, "tpm2_checkquote", "tpm2_pcrread", "setpriv")
	tpm := swtpmtest.StartEK(t)
	dir := sharedDir(t)
	m := mountShared(t, tpm.Source(), "allow_other", "ak_mode=1777")
	nobody.must(t, "echo -n measured > "+m.Path("pcrs", "16")+" || true") // pcr_mode keeps nobody out
	sh(t, "echo -n measured > "+m.Path("pcrs", "16"))
	pcr16 := readPCR(t, m.Path("pcrs", "sha256", "16"))
	const nonce = "00112233445566778899aabbccddeeff"
	for _, typ := range []string{"ecc", "rsa"} {
		key := m.Path("ak", typ)
		nobody.must(t, "mkdir "+key)
		if typ == "rsa" {
			nobody.must(t, "echo rsa > "+key+"/type")
		}
		q := parseQuote(t, nobody.must(t, quoteScript(key+"/quote", "sha256:0-7,16 nonce="+nonce)))
		if q.Nonce != nonce || q.Selection != "sha256:0,1,2,3,4,5,6,7,16" || q.PCRs["sha256"]["16"] != pcr16 || len(q.PCRs["sha256"]) != 9 {
			t.Errorf("%s: answer %+v", typ, q)
		}
		pub := filepath.Join(dir, typ+".pem")
		writeFiles(t, dir, map[string][]byte{typ + ".pem": []byte(nobody.must(t, "cat "+key+"/public.pem"))})
		if err := checkquote(t, dir, pub, q, nonce); err != nil {
			t.Errorf("%s: tpm2_checkquote: %v", typ, err)
		}
		if err := checkquote(t, dir, pub, q, "00112233445566778899aabbccddeefe"); err == nil {
			t.Errorf("%s: tpm2_checkquote accepts another nonce", typ)
		}
		changed := q
		changed.PCRsSerialized = bytes.Clone(q.PCRsSerialized)
		changed.PCRsSerialized[132+4+4+2] ^= 1 // the first digest's first byte
		if err := checkquote(t, dir, pub, changed, nonce); err == nil {
			t.Errorf("%s: tpm2_checkquote accepts a changed PCR value", typ)
		}

		// go-attestation: the key from public.tpm2b (TPM2B_PUBLIC: its
		// size, then the TPMT_PUBLIC the library parses).
		blob, err := os.ReadFile(key + "/public.tpm2b")
		if err != nil || len(blob) < 2 {
			t.Fatal(err)
		}
		ak, err := goattest.ParseAKPublic(blob[2:])
		if err != nil {
			t.Fatalf("%s: ParseAKPublic: %v", typ, err)
		}
		pcrs := attestPCRs(t, q)
		quote := goattest.Quote{Quote: q.Attest, Signature: q.Signature}
		nonceBytes, _ := hex.DecodeString(nonce)
		if err := ak.Verify(quote, pcrs, nonceBytes); err != nil {
			t.Errorf("%s: go-attestation: %v", typ, err)
		}
		if err := ak.Verify(quote, pcrs, append(nonceBytes[:15:15], 0)); err == nil {
			t.Errorf("%s: go-attestation accepts another nonce", typ)
		}
		pcrs[3].Digest = bytes.Repeat([]byte{0xee}, 32)
		if err := ak.Verify(quote, pcrs, nonceBytes); err == nil {
			t.Errorf("%s: go-attestation accepts a changed PCR value", typ)
		}
		// A multi-bank quote verifies with tpm2_checkquote too.
		q = parseQuote(t, nobody.must(t, quoteScript(key+"/quote", "sha1:0,16+sha256:23 nonce=01")))
		if err := checkquote(t, dir, pub, q, "01"); err != nil || len(q.PCRs["sha1"]) != 2 {
			t.Errorf("%s: sha1+sha256 quote: %v, %v", typ, err, q.PCRs)
		}
	}
	m.unmount(t)
	// The quoted values are the TPM's, as tpm2-tools reads them.
	if got := pcrreadTool(t, tpm.TCTI(), "sha256", 16); got != pcr16 {
		t.Errorf("tpm2_pcrread says PCR 16 is %s, the quote %s", got, pcr16)
	}
}

// attestPCRs turns the answer's pcrs into go-attestation's, by index.
func attestPCRs(t *testing.T, q quoteAnswer) []goattest.PCR {
	t.Helper()
	var out []goattest.PCR
	for i := 0; i < 24; i++ {
		v, ok := q.PCRs["sha256"][strconv.Itoa(i)]
		if !ok {
			continue
		}
		d, err := hex.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, goattest.PCR{Index: i, Digest: d, DigestAlg: crypto.SHA256})
	}
	return out
}

// TestAKActivate: tpm2_makecredential for a key's name and the EK in
// ek/rsa2048.pub.pem, written to activate by the key's owner, gives back
// the secret; a credential made for another key's name is refused.
func TestAKActivate(t *testing.T) {
	require(t, "tpm2_makecredential", "setpriv")
	tpm := swtpmtest.StartEK(t)
	dir := sharedDir(t)
	m := mountShared(t, tpm.Source(), "allow_other", "ak_mode=1777")
	nobody.must(t, "mkdir "+m.Path("ak", "k")+" "+m.Path("ak", "k2"))
	name := strings.TrimSpace(nobody.must(t, "cat "+m.Path("ak", "k", "name")))
	name2 := strings.TrimSpace(nobody.must(t, "cat "+m.Path("ak", "k2", "name")))
	secret := []byte("challenge of the verifier 0123")
	writeFiles(t, dir, map[string][]byte{"secret": secret})
	makecred := func(n, out string) {
		run(t, "tpm2_makecredential", "-T", "none", "-G", "rsa", "-u", m.Path("ek", "rsa2048.pub.pem"), "-n", n,
			"-s", filepath.Join(dir, "secret"), "-o", filepath.Join(dir, out))
		os.Chmod(filepath.Join(dir, out), 0o644)
	}
	makecred(name, "cred")
	makecred(name2, "cred-other")
	activate := func(cred string) string {
		return "exec 3<>" + m.Path("ak", "k", "activate") + " && cat " + filepath.Join(dir, cred) + " >&3 && cat <&3"
	}
	if got := nobody.must(t, activate("cred")); got != string(secret) {
		t.Errorf("activated %q", got)
	}
	nobody.refused(t, syscall.EACCES, activate("cred-other"))
	// Another user may not use nobody's key at all.
	other.refused(t, syscall.EACCES, activate("cred"))
}
