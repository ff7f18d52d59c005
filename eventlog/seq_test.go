package eventlog

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)

func u32(v uint32) *uint32 { return &v }

// bootRecord is a 2.0 header.
func bootRecord(t testing.TB, reset, restart uint32) Record {
	t.Helper()
	c, err := (&Content{Type: TypeBoot, Time: t0, Family: Family20, ResetCount: u32(reset), RestartCount: u32(restart)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return Record{Recnum: 0, PCR: 0, ContentType: ContentType, Content: c}
}

func eventRecord(t testing.TB, n uint64, pcr int, data []byte) Record {
	t.Helper()
	c, err := EventContent(1000, t0, data).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return Record{Recnum: n, PCR: pcr, ContentType: ContentType, Content: c, Digests: []Digest{
		{Alg: "sha1", Value: bytes.Repeat([]byte{1}, 20)},
		{Alg: "sha256", Value: bytes.Repeat([]byte{2}, 32)},
	}}
}

func seqOf(t testing.TB, recs ...Record) []byte {
	t.Helper()
	var out []byte
	for i := range recs {
		b, err := MarshalSeq(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func TestSeqRoundTrip(t *testing.T) {
	data := seqOf(t, bootRecord(t, 3, 1), eventRecord(t, 1, 16, []byte("hello\n")), eventRecord(t, 2, 23, nil))
	if data[0] != RS || data[len(data)-1] != '\n' || bytes.Count(data, []byte{RS}) != 3 {
		t.Fatalf("not a JSON text sequence of 3: %q", data)
	}
	log, good, err := ParseLog(data)
	if err != nil || good != len(data) {
		t.Fatalf("ParseLog: %v after %d of %d bytes", err, good, len(data))
	}
	if len(log.Records) != 3 || *log.Boot.ResetCount != 3 || *log.Boot.RestartCount != 1 {
		t.Fatalf("log = %+v", log)
	}
	c, err := ParseContent(log.Records[1].Content)
	if err != nil || string(c.Data) != "hello\n" || *c.Size != 6 || *c.UID != 1000 || !c.Time.Equal(t0) {
		t.Fatalf("event content = %+v, %v", c, err)
	}
	// The form systemd and CEL readers expect: these keys, hex digests.
	for _, want := range []string{`"recnum":1`, `"pcr":16`, `"hashAlg":"sha256"`, `"digest":"0202`, `"content_type":"tpmfs"`, `"type":"event"`, `"data":"68656c6c6f0a"`, `"digests":[]`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("log lacks %s:\n%s", want, data)
		}
	}
}

func TestEventContentKeepsSizeOfLargeData(t *testing.T) {
	c := EventContent(0, t0, make([]byte, MaxData+1))
	if c.Data != nil || *c.Size != MaxData+1 {
		t.Fatalf("content of a large event = %+v", c)
	}
	if c := EventContent(0, t0, make([]byte, MaxData)); len(c.Data) != MaxData {
		t.Fatalf("content of a %d-byte event holds %d bytes", MaxData, len(c.Data))
	}
}

// Anything but what MarshalSeq writes is refused, and the good records
// before it are returned with their span.
func TestParseSeqStrict(t *testing.T) {
	head := seqOf(t, bootRecord(t, 1, 0))
	ev := seqOf(t, eventRecord(t, 1, 16, []byte("x")))
	evJSON := string(ev[1 : len(ev)-1])
	bad := map[string]string{
		"no LF, not last":   "\x1e" + evJSON + string(head),
		"unknown field":     "\x1e" + strings.Replace(evJSON, `"pcr"`, `"extra":1,"pcr"`, 1) + "\n",
		"two values":        "\x1e" + evJSON + " {}\n",
		"pcr out of range":  "\x1e" + strings.Replace(evJSON, `"pcr":16`, `"pcr":24`, 1) + "\n",
		"negative pcr":      "\x1e" + strings.Replace(evJSON, `"pcr":16`, `"pcr":-1`, 1) + "\n",
		"unknown bank":      "\x1e" + strings.Replace(evJSON, `"sha1"`, `"md5"`, 1) + "\n",
		"bank in capitals":  "\x1e" + strings.Replace(evJSON, `"sha1"`, `"SHA1"`, 1) + "\n",
		"short digest":      "\x1e" + strings.Replace(evJSON, `"0101010101010101010101010101010101010101"`, `"01"`, 1) + "\n",
		"not hex":           "\x1e" + strings.Replace(evJSON, `"0101010101010101010101010101010101010101"`, `"zz01010101010101010101010101010101010101"`, 1) + "\n",
		"two sha256":        "\x1e" + strings.Replace(evJSON, `"sha1"`, `"sha256"`, 1) + "\n",
		"no digests":        "\x1e" + strings.Replace(evJSON, `"digests"`, `"_"`, 1) + "\n",
		"content not obj":   "\x1e" + evJSON[:strings.Index(evJSON, `"content":`)] + `"content":1}` + "\n",
		"data size differs": "\x1e" + strings.Replace(evJSON, `"size":1`, `"size":2`, 1) + "\n",
		"event w/o digests": "\x1e" + evJSON[:strings.Index(evJSON, `"digests"`)] + `"digests":[],` + evJSON[strings.Index(evJSON, `"content_type"`):] + "\n",
		"unknown type":      "\x1e" + strings.Replace(evJSON, `"type":"event"`, `"type":"other"`, 1) + "\n",
		"empty element":     "\x1e\n",
	}
	for name, tail := range bad {
		data := append(append([]byte(nil), head...), tail...)
		recs, good, err := ParseSeq(data)
		if !errors.Is(err, ErrInvalid) || len(recs) != 1 || good != len(head) {
			t.Errorf("%s: %d records, good %d (want 1, %d), err %v", name, len(recs), good, len(head), err)
		}
		if IsTruncated(err) {
			t.Errorf("%s: reported as a truncated tail: %v", name, err)
		}
	}
	if recs, good, err := ParseSeq([]byte(evJSON + "\n")); !errors.Is(err, ErrInvalid) || len(recs) != 0 || good != 0 {
		t.Errorf("no RS: %d records, good %d, err %v", len(recs), good, err)
	}
	// A last record without its LF is a writer cut short.
	for _, cut := range []int{1, 10, len(ev) - 1} {
		data := append(append([]byte(nil), head...), ev[:cut]...)
		recs, good, err := ParseSeq(data)
		if !IsTruncated(err) || len(recs) != 1 || good != len(head) {
			t.Errorf("cut after %d bytes: %d records, good %d, err %v; want truncated after the header", cut, len(recs), good, err)
		}
	}
}

func TestParseLogNeedsHeaderAndNumbers(t *testing.T) {
	boot, ev := bootRecord(t, 1, 0), eventRecord(t, 1, 16, nil)
	cases := map[string][]Record{
		"no header":         {eventRecord(t, 0, 16, nil)},
		"numbers skip":      {boot, eventRecord(t, 2, 16, nil)},
		"two headers":       {boot, func() Record { r := bootRecord(t, 1, 0); r.Recnum = 1; return r }()},
		"header numbered 1": {func() Record { r := boot; r.Recnum = 1; return r }()},
		"other content":     {boot, func() Record { r := ev; r.ContentType = "systemd"; return r }()},
	}
	for name, recs := range cases {
		if _, _, err := ParseLog(seqOf(t, recs...)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	if _, good, err := ParseLog(nil); !errors.Is(err, ErrInvalid) || good != 0 {
		t.Errorf("empty log: good %d err %v", good, err)
	}
}

func TestContentStrict(t *testing.T) {
	bad := []string{
		`{"type":"boot","time":"2025-01-01T00:00:00Z","family":"2.0","reset_count":1}`,
		`{"type":"boot","time":"2025-01-01T00:00:00Z","family":"1.2","tick_nonce":"00"}`,
		`{"type":"boot","time":"2025-01-01T00:00:00Z","family":"3.0","reset_count":1,"restart_count":0}`,
		`{"type":"boot","time":"2025-01-01T00:00:00Z","family":"2.0","reset_count":1,"restart_count":0,"uid":0}`,
		`{"type":"event","time":"2025-01-01T00:00:00Z","uid":0}`,
		`{"type":"event","time":"2025-01-01T00:00:00Z","uid":0,"size":-1}`,
		`{"type":"event","time":"2025-01-01T00:00:00Z","uid":0,"size":5000,"data":"00"}`,
		`{"type":"digest","time":"2025-01-01T00:00:00Z"}`,
		`{"type":"digest","uid":0}`,
		`{"type":"digest","time":"2025-01-01T00:00:00Z","uid":0,"size":1}`,
		`{"type":"digest","time":"2025-01-01T00:00:00Z","uid":0,"x":1}`,
		`{"type":"digest","time":"2025-01-01T00:00:00Z","uid":0}x`,
	}
	for _, s := range bad {
		if _, err := ParseContent([]byte(s)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", s, err)
		}
	}
	good := []string{
		`{"type":"boot","time":"2025-01-01T00:00:00Z","family":"1.2","tick_nonce":"0000000000000000000000000000000000000000"}`,
		`{"type":"event","time":"2025-01-01T00:00:00Z","uid":0,"size":5000}`,
		`{"type":"event","time":"2025-01-01T00:00:00Z","uid":0,"size":0}`,
		`{"type":"digest","time":"2025-01-01T00:00:00+02:00","uid":4294967295}`,
	}
	for _, s := range good {
		if _, err := ParseContent([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}
