package sealstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	parent := sealed["parent"].(map[string]any)
	if parent["handle"] != "0x81000001" || parent["name"] != base64.StdEncoding.EncodeToString(r.Sealed.Parent.Name) {
		t.Errorf("sealed.parent = %v, want handle 0x81000001 and the name in base64", parent)
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
	for _, r := range []*Record{sealedRecord("a", 3, 6), bareRecord("b"), sealed12Record("c")} {
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

// TestParentByVersion: a sealed object's parent is version 3's; a version
// 2 file has none (and with one is not read), and reads as a parent-less
// object, written back as version 3; a parent must be one of the two
// handles tpmfs seals under, with a well-formed TPM name.
func TestParentByVersion(t *testing.T) {
	r := sealedRecord("p", 16, 7)
	v3, err := encode(r)
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.Replace(string(v3), `"version": 3`, `"version": 2`, 1)
	if _, err := decode([]byte(v2)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "parent") {
		t.Errorf("version 2 with a parent: %v, want ErrCorrupt naming the parent", err)
	}
	r.Sealed.Parent = nil
	old, err := encode(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode([]byte(strings.Replace(string(old), `"version": 3`, `"version": 2`, 1)))
	if err != nil || got.Sealed.Parent != nil {
		t.Fatalf("version 2 without a parent: %+v, %v", got, err)
	}
	again, _ := encode(got)
	if !strings.Contains(string(again), `"version": 3`) || strings.Contains(string(again), "parent") {
		t.Errorf("a version 2 object written back:\n%s", again)
	}
	for _, bad := range []string{
		`{"handle": "0x81000002", "name": "AAsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"handle": "0x40000001", "name": "AAsAAA=="}`,
		`{"handle": "0x40000001", "name": "qqoAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"handle": "81000001", "name": "AAsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"handle": "0x8100000G", "name": "AAsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"handle": "0x81000001"}`,
	} {
		data := strings.Replace(string(v3), `"parent": {`, `"parent": `+bad+`, "was": {`, 1)
		if _, err := decode([]byte(data)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parent %s: %v, want ErrCorrupt", bad, err)
		}
	}
	ok := strings.Replace(string(v3), `"parent": {`, `"parent": {"handle": "0x40000001", "name": "AAsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "was": {`, 1)
	if _, err := decode([]byte(ok)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an unknown field beside the parent was accepted")
	}
}
