package sealstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestEncodeLayout reads an encoded record back as plain JSON and checks
// each field against values worked out here, not by the codec.
func TestEncodeLayout(t *testing.T) {
	r := sealedRecord("disk-key.v2", 40, 1)
	// 09:08:09.5 at UTC+2 is 07:08:09.5 UTC.
	r.Created = time.Date(2024, 5, 6, 9, 8, 9, 500000000, time.FixedZone("x", 2*3600))
	data, err := encode(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"created", "gid", "id", "mode", "modified", "name", "pcrs", "sealed", "uid", "version"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	want := map[string]any{
		"version": 3.0, "name": "disk-key.v2", "id": r.ID, "uid": 1001.0, "gid": 100.0, "mode": "0750",
		"pcrs": "sha1:1+sha256:0,7", "created": "2024-05-06T07:08:09.5Z", "modified": "2025-01-02T03:04:05Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	sealed := m["sealed"].(map[string]any)
	for k, b := range map[string][]byte{
		"policy": r.Sealed.Policy, "public": r.Sealed.Public, "private": r.Sealed.Private,
		"nonce": r.Sealed.Nonce, "ciphertext": r.Sealed.Ciphertext,
	} {
		if sealed[k] != base64.StdEncoding.EncodeToString(b) {
			t.Errorf("sealed.%s = %v, want base64 of the blob", k, sealed[k])
		}
	}
	if !bytes.HasSuffix(data, []byte("}\n")) {
		t.Errorf("file does not end in one newline")
	}

	bare, err := encode(bareRecord("x"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bare, []byte("sealed")) || !bytes.Contains(bare, []byte(`"mode": "1777"`)) || !bytes.Contains(bare, []byte(`"pcrs": ""`)) {
		t.Errorf("record without data encodes as\n%s", bare)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, r := range []*Record{sealedRecord("a", 0, 2), sealedRecord("b", 1<<20, 3), bareRecord("c")} {
		data, err := encode(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decode(data)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: decoded %+v, want %+v", r.Name, got, r)
		}
	}
}

// mutate encodes a valid record, applies f to it as generic JSON and
// returns the result.
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	data, err := encode(sealedRecord("obj", 10, 4))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecodeRejects(t *testing.T) {
	valid, err := encode(sealedRecord("obj", 10, 4))
	if err != nil {
		t.Fatal(err)
	}
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	setSealed := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) { m["sealed"].(map[string]any)[k] = v }
	}
	cases := map[string][]byte{
		"empty":          {},
		"garbage":        []byte("\x00\xffnot json"),
		"null":           []byte("null"),
		"array":          []byte("[1]"),
		"truncated":      valid[:len(valid)/2],
		"truncated end":  valid[:len(valid)-3],
		"trailing":       append(append([]byte{}, valid...), "x"...),
		"two objects":    append(append([]byte{}, valid...), valid...),
		"too large":      append(append([]byte{}, valid...), bytes.Repeat([]byte(" "), MaxFileSize)...),
		"version 4":      mutate(t, set("version", 4)),
		"version 0":      mutate(t, set("version", 0)),
		"version string": mutate(t, set("version", "1")),
		"no version":     mutate(t, del("version")),
		"unknown field":  mutate(t, set("secret", "x")),
		"unknown sealed": mutate(t, setSealed("key", "AAAA")),
		"bad base64":     mutate(t, setSealed("ciphertext", "!!!")),
		"bad name":       mutate(t, set("name", "../etc/passwd")),
		"dot name":       mutate(t, set("name", ".obj")),
		"mode 3 digits":  mutate(t, set("mode", "755")),
		"mode not octal": mutate(t, set("mode", "0800")),
		"mode number":    mutate(t, set("mode", 493)),
		"uid negative":   mutate(t, set("uid", -1)),
		"uid too big":    mutate(t, set("uid", 1<<32)),
		"uid float":      mutate(t, set("uid", 1.5)),
		"bad time":       mutate(t, set("created", "yesterday")),
		"pcrs newline":   mutate(t, func(m map[string]any) { m["pcrs"] = "sha256:0\n"; m["sealed"].(map[string]any)["pcrs"] = "sha256:0\n" }),
		"pcrs mismatch":  mutate(t, setSealed("pcrs", "sha256:1")),
		"no ciphertext":  mutate(t, setSealed("ciphertext", "")),
		"no public":      mutate(t, func(m map[string]any) { delete(m["sealed"].(map[string]any), "public") }),
		"sealed string":  mutate(t, set("sealed", "x")),
		"bad bank":       mutate(t, setSealed("pcr_values", []any{map[string]any{"bank": "md5", "index": 0, "digest": "AAAA"}})),
		"short digest":   mutate(t, setSealed("pcr_values", []any{map[string]any{"bank": "sha1", "index": 0, "digest": "AAAA"}})),
		"pcr index 32": mutate(t, setSealed("pcr_values", []any{map[string]any{"bank": "sha1", "index": 32,
			"digest": base64.StdEncoding.EncodeToString(make([]byte, 20))}})),
	}
	for _, k := range []string{"name", "uid", "gid", "mode", "pcrs", "created", "modified"} {
		cases["no "+k] = mutate(t, del(k))
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := decode(data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode gave %+v, %v; want ErrCorrupt", r, err)
			}
		})
	}
}

// TestVersion3Fields: the fields of version 3 round-trip, each is checked
// against the others, and an older version may not have them.
func TestVersion3Fields(t *testing.T) {
	r := signedRecord(t, "signed")
	data, err := encode(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(data)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, r)
	}
	var m map[string]any
	json.Unmarshal(data, &m)
	if m["authkey"] != base64.StdEncoding.EncodeToString(r.AuthKey) || m["pcrs"] != r.Selection {
		t.Errorf("authkey %v, pcrs %v", m["authkey"], m["pcrs"])
	}
	if sig, ok := m["pcrsig"].(map[string]any); !ok || len(sig["sha256"].([]any)) != 2 {
		t.Errorf("pcrsig = %v, want systemd's layout with two sha256 entries", m["pcrsig"])
	}
	other := signedRecord(t, "other")
	for name, f := range map[string]func(r *Record){
		"given value not sealed to": func(r *Record) { r.Sealed.PCRValues[1].Digest = randBytes(99, 32) },
		"authkey not sealed with":   func(r *Record) { r.Sealed.AuthKey = other.AuthKey },
		"authkey removed":           func(r *Record) { r.AuthKey = nil },
		"pcrsig of another key":     func(r *Record) { r.Signatures = other.Signatures },
		"pcrsig without authkey":    func(r *Record) { r.AuthKey, r.Sealed.AuthKey = nil, nil },
		"authkey not a key":         func(r *Record) { r.AuthKey, r.Sealed.AuthKey = []byte{1, 2}, []byte{1, 2} },
		"parent too long":           func(r *Record) { r.Sealed.Parent = make([]byte, 67) },
		"bad spec":                  func(r *Record) { r.Selection = "sha256:7=abc" },
	} {
		r := signedRecord(t, "signed")
		f(r)
		if _, err := encode(r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: encode gave %v, want ErrInvalidRecord", name, err)
		}
	}
	for name, f := range map[string]func(m map[string]any){
		"authkey":        func(m map[string]any) { m["authkey"] = "AAAA" },
		"pcrsig":         func(m map[string]any) { m["pcrsig"] = map[string]any{} },
		"sealed.parent":  func(m map[string]any) { m["sealed"].(map[string]any)["parent"] = "AAAA" },
		"sealed.authkey": func(m map[string]any) { m["sealed"].(map[string]any)["authkey"] = "AAAA" },
		"values in pcrs": func(m map[string]any) {
			m["pcrs"] = fmt.Sprintf("sha1:1+sha256:0,7=%x", m["sealed"].(map[string]any)["pcr_values"])
		},
	} {
		data := mutate(t, func(m map[string]any) { m["version"] = 2; f(m) })
		if r, err := decode(data); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 2 has no") {
			t.Errorf("version 2 with %s: %+v, %v; want ErrCorrupt", name, r, err)
		}
	}
	// A plain version 2 file still loads.
	if r, err := decode(mutate(t, func(m map[string]any) { m["version"] = 2 })); err != nil || r.Sealed == nil {
		t.Errorf("version 2 file: %+v, %v", r, err)
	}
	// A pcrsig not in systemd's form, or a second entry for a bank, is
	// corrupt.
	for name, v := range map[string]any{
		"pcrsig list":  []any{1},
		"pcrsig field": map[string]any{"sha256": []any{map[string]any{"pcrs": []any{11}}}},
	} {
		data := mutate(t, func(m map[string]any) { m["pcrsig"] = v })
		if r, err := decode(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %+v, %v; want ErrCorrupt", name, r, err)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	cases := map[string]func(r *Record){
		"bad name":       func(r *Record) { r.Name = "a/b" },
		"mode":           func(r *Record) { r.Mode = 0o10000 },
		"pcrs mismatch":  func(r *Record) { r.Selection = "sha256:1" },
		"no public":      func(r *Record) { r.Sealed.Public = nil },
		"year 10000":     func(r *Record) { r.Modified = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"too large":      func(r *Record) { r.Sealed.Ciphertext = make([]byte, 3<<20+1) },
		"selection junk": func(r *Record) { r.Selection = "sha256:0 ; rm"; r.Sealed.Selection = r.Selection },
	}
	for name, f := range cases {
		r := sealedRecord("obj", 10, 5)
		f(r)
		if _, err := encode(r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: encode gave %v, want ErrInvalidRecord", name, err)
		}
	}
	if _, err := encode(&Record{Name: "a/b"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad name: %v does not wrap ErrInvalidName", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, r := range []*Record{sealedRecord("a", 3, 6), bareRecord("b"), sealed12Record("c"), signedRecord(f, "d")} {
		data, err := encode(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte(`{"version":1,"name":"x","uid":0,"gid":0,"mode":"0700","pcrs":"","created":"2024-01-01T00:00:00+02:00","modified":"2024-01-01T00:00:00Z","sealed":{"pcrs":"","policy":"","public":"AA==","private":"AA==","nonce":"AA==","ciphertext":"AA==","pcr_values":[]}}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc, err := encode(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		r2, err := decode(enc)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
		}
		if enc2, _ := encode(r2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
		if !strings.Contains(string(enc), `"version": 3`) {
			t.Fatalf("encoding lacks version 3")
		}
	})
}
