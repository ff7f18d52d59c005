package pcrsig

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"tpmfs/tpmcore/pcrsel"
)

func TestParseKey(t *testing.T) {
	for _, k := range []struct {
		key  *opensslKey
		kind string
	}{{rsaKey(t), "rsa2048"}, {ecKey(t), "ecc-nistp256"}} {
		key, err := ParseKey(k.key.pub)
		if err != nil {
			t.Fatalf("%s: %v", k.kind, err)
		}
		if key.Kind() != k.kind {
			t.Errorf("Kind = %s, want %s", key.Kind(), k.kind)
		}
		if got, want := hex.EncodeToString(key.Fingerprint()), k.key.fingerprint(t); got != want {
			t.Errorf("%s fingerprint %s, openssl's DER hashes to %s", k.kind, got, want)
		}
		if !bytes.Equal(key.PEM(), k.key.pub) {
			t.Errorf("%s PEM() = %s, openssl wrote %s", k.kind, key.PEM(), k.key.pub)
		}
		// White space around the one key is fine.
		if _, err := ParseKey(append(append([]byte("\n  "), k.key.pub...), "\n\n"...)); err != nil {
			t.Errorf("%s with white space: %v", k.kind, err)
		}
	}
}

func TestParseKeyRefused(t *testing.T) {
	good := rsaKey(t).pub
	other := ecKey(t).pub
	priv := []byte(openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"))
	tests := map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("hello\n"),
		"typo in header": bytes.Replace(good, []byte("BEGIN PUBLIC"), []byte("BEGIN PUBLlC"), 1),
		"typo in body":   bytes.Replace(good, []byte("MII"), []byte("MIl"), 1),
		"second line":    append(append([]byte(nil), good...), "echo hi\n"...),
		"two keys":       append(append([]byte(nil), good...), other...),
		"leading junk":   append([]byte("junk\n"), good...),
		"truncated":      good[:len(good)/2],
		"private key":    priv,
		"rsa 1024":       genKey(t, "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024").pub,
		"ecc p384":       genKey(t, "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384").pub,
		"ed25519":        genKey(t, "-algorithm", "ED25519").pub,
		"headers":        bytes.Replace(good, []byte("-----\n"), []byte("-----\nProc-Type: 4,ENCRYPTED\n\n"), 1),
		"too long":       bytes.Repeat([]byte(" "), MaxKeyText+1),
	}
	for name, text := range tests {
		if k, err := ParseKey(text); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ParseKey = %v, %v; want ErrInvalid", name, k, err)
		}
	}
}

// signedSet is a pcrsig with two sha256 policies and a sha1 one, signed
// with openssl.
func signedSet(t *testing.T, k *opensslKey) string {
	return fmt.Sprintf(`{"sha256":[%s,%s],"sha1":[%s]}`,
		k.entry(t, "sha256", "11", pol(1)), k.entry(t, "sha256", "7, 11", pol(2)), k.entry(t, "sha1", "11", pol(3)))
}

func TestParseVerify(t *testing.T) {
	for _, k := range []*opensslKey{rsaKey(t), ecKey(t)} {
		key, err := ParseKey(k.pub)
		if err != nil {
			t.Fatal(err)
		}
		text := signedSet(t, k) + "\n"
		s, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", key.Kind(), err)
		}
		if err := s.Verify(key); err != nil {
			t.Errorf("%s: Verify: %v", key.Kind(), err)
		}
		// Banks by name, then as listed.
		want := []struct {
			bank pcrsel.Bank
			pcrs string
			pol  []byte
		}{{pcrsel.SHA1, "sha1:11", pol(3)}, {pcrsel.SHA256, "sha256:11", pol(1)}, {pcrsel.SHA256, "sha256:7,11", pol(2)}}
		if len(s.Policies) != len(want) {
			t.Fatalf("%d policies, want %d", len(s.Policies), len(want))
		}
		for i, w := range want {
			p := s.Policies[i]
			if p.Bank != w.bank || p.PCRs.String() != w.pcrs || !bytes.Equal(p.Digest, w.pol) || !bytes.Equal(p.KeyFP, key.Fingerprint()) {
				t.Errorf("policy %d = %s %s %x, want %s %s %x", i, p.Bank, p.PCRs, p.Digest, w.bank, w.pcrs, w.pol)
			}
		}
		// Text is systemd's layout, and reads back equal.
		again, err := Parse(s.Text())
		if err != nil || !bytes.Equal(again.Text(), s.Text()) || !strings.HasPrefix(string(s.Text()), `{"sha1":[{"pcrs":[11],"pkfp":"`) {
			t.Errorf("Text() = %s, reparsed: %v", s.Text(), err)
		}
		if c, err := Partial([]byte(text)); !c || err != nil {
			t.Errorf("Partial(whole) = %v, %v", c, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	k, other := rsaKey(t), rsaKey(t, 2)
	key, _ := ParseKey(k.pub)
	otherKey, _ := ParseKey(other.pub)
	good := k.entry(t, "sha256", "11", pol(1))
	tampered := strings.Replace(good, fmt.Sprintf("%x", pol(1)), fmt.Sprintf("%x", pol(9)), 1)
	// Signed by the other key but claiming k's fingerprint.
	forged := strings.Replace(other.entry(t, "sha256", "11", pol(1)), other.fingerprint(t), k.fingerprint(t), 1)
	// A sha256 policy signed over SHA-1 of pol.
	wrongHash := strings.Replace(k.entry(t, "sha1", "11", pol(1)), "", "", 1)
	for name, c := range map[string]struct {
		text string
		key  *Key
		want error
	}{
		"other key":       {`{"sha256":[` + good + `]}`, otherKey, ErrOtherKey},
		"tampered pol":    {`{"sha256":[` + tampered + `]}`, key, ErrInvalid},
		"forged":          {`{"sha256":[` + forged + `]}`, key, ErrInvalid},
		"hash of another": {`{"sha256":[` + wrongHash + `]}`, key, ErrInvalid},
		"one bad of two":  {`{"sha256":[` + good + `,` + tampered + `]}`, key, ErrInvalid},
	} {
		s, err := Parse([]byte(c.text))
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		if err := s.Verify(c.key); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
}

func TestParseRefused(t *testing.T) {
	k := rsaKey(t)
	e := k.entry(t, "sha256", "11", pol(1))
	sig := k.sign(t, "sha256", pol(1))
	fp := k.fingerprint(t)
	mk := func(pcrs, pkfp, pol, sig string) string {
		return fmt.Sprintf(`{"sha256":[{"pcrs":%s,"pkfp":"%s","pol":"%s","sig":"%s"}]}`, pcrs, pkfp, pol, sig)
	}
	p1 := fmt.Sprintf("%x", pol(1))
	for name, text := range map[string]string{
		"second object":  `{"sha256":[` + e + `]}` + "\n{}",
		"second line":    `{"sha256":[` + e + `]}` + "\nx",
		"not an object":  `[` + e + `]`,
		"null":           `null`,
		"bank twice":     `{"sha256":[` + e + `],"sha256":[]}`,
		"unknown bank":   `{"md5":[` + e + `]}`,
		"bank by case":   `{"SHA256":[` + e + `]}`,
		"sm3":            `{"sm3_256":[` + e + `]}`,
		"not an array":   `{"sha256":` + e + `}`,
		"null array":     `{"sha256":null}`,
		"unknown field":  strings.Replace(e, `"pcrs"`, `"pcr":[1],"pcrs"`, 1),
		"field twice":    strings.Replace(e, `"pcrs":[11]`, `"pcrs":[11],"pcrs":[12]`, 1),
		"missing sig":    fmt.Sprintf(`{"sha256":[{"pcrs":[11],"pkfp":"%s","pol":"%s"}]}`, fp, p1),
		"no pcrs":        mk("[]", fp, p1, sig),
		"pcr 24":         mk("[24]", fp, p1, sig),
		"pcr -1":         mk("[-1]", fp, p1, sig),
		"pcr twice":      mk("[11,11]", fp, p1, sig),
		"pcr as string":  mk(`["11"]`, fp, p1, sig),
		"pcr fraction":   mk("[11.5]", fp, p1, sig),
		"short pkfp":     mk("[11]", fp[:60], p1, sig),
		"pol not hex":    mk("[11]", fp, strings.Repeat("zz", 32), sig),
		"sha1-sized pol": mk("[11]", fp, p1[:40], sig),
		"sig not base64": mk("[11]", fp, p1, "!!"+sig),
		"empty sig":      mk("[11]", fp, p1, ""),
		"truncated":      `{"sha256":[` + e,
		"too many":       `{"sha256":[` + strings.Repeat(e+",", MaxPolicies) + e + `]}`,
	} {
		if s, err := Parse([]byte(text)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse = %v, %v; want ErrInvalid", name, s, err)
		}
	}
	for _, empty := range []string{"", " \n", "{}", "{}\n"} {
		if s, err := Parse([]byte(empty)); err != nil || len(s.Policies) != 0 || len(s.Text()) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want the empty set", empty, s, err)
		}
	}
}

// TestPartial: every prefix of a valid file is not (yet) an error, and a
// mistake is an error as soon as it is there.
func TestPartial(t *testing.T) {
	k := ecKey(t)
	text := []byte(signedSet(t, k) + "\n")
	for i := range len(text) - 1 { // text[:len-1] is the whole object
		if c, err := Partial(text[:i]); c || err != nil {
			t.Fatalf("Partial(prefix of %d) = %v, %v", i, c, err)
		}
	}
	for i := range k.pub {
		if c, err := KeyPartial(k.pub[:i]); c || err != nil {
			t.Fatalf("KeyPartial(prefix of %d) = %v, %v", i, c, err)
		}
	}
	if c, err := KeyPartial(k.pub); !c || err != nil {
		t.Errorf("KeyPartial(whole) = %v, %v", c, err)
	}
	for name, bad := range map[string][]byte{
		"garbage line":         []byte("not a key\n"),
		"typo":                 []byte("-----BEGIN PUBLlC"),
		"junk after the key":   append(append([]byte(nil), k.pub...), "x"...),
		"a second begin":       append(append([]byte(nil), k.pub...), "-----BEGIN"...),
		"truncated body, ends": append(append([]byte(nil), k.pub[:40]...), "\n-----END PUBLIC KEY-----\n"...),
	} {
		if _, err := KeyPartial(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("KeyPartial(%s) = %v, want ErrInvalid", name, err)
		}
	}
	for name, bad := range map[string]string{
		"not json":      "sha256: 11\n",
		"second object": string(text) + "{",
		"junk after":    string(text) + "x",
		"bad entry":     `{"sha256":[{"pcrs":[99]`,
	} {
		c, err := Partial([]byte(bad))
		if name == "bad entry" {
			// Whole entries are judged once the object is whole.
			if c || err != nil {
				t.Errorf("Partial(%s) = %v, %v", name, c, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Partial(%s) = %v, %v; want ErrInvalid", name, c, err)
		}
	}
}
