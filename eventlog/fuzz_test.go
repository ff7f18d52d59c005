package eventlog

import (
	"bytes"
	"testing"

	"tpmfs/tpmcore/pcrsel"
)

// FuzzParseLog: any input parses or fails with ErrInvalid, never panics;
// the good part is a prefix of the input; what parses is written back
// the same way and replays.
func FuzzParseLog(f *testing.F) {
	good := seqOf(f, bootRecord(f, 1, 0), eventRecord(f, 1, 16, []byte("x")), eventRecord(f, 2, 23, nil))
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add([]byte("\x1e{}\n"))
	f.Add([]byte("\x1e{\"recnum\":0,\"pcr\":0,\"digests\":[],\"content_type\":\"tpmfs\",\"content\":{\"type\":\"boot\"}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		log, n, err := ParseLog(data)
		if n < 0 || n > len(data) || (err == nil) != (n == len(data) && log.Boot != nil) {
			t.Fatalf("good %d of %d, err %v", n, len(data), err)
		}
		recs, m, _ := ParseSeq(data[:n])
		if m != n || len(recs) != len(log.Records) {
			t.Fatalf("the good part reparses as %d records in %d bytes, want %d in %d", len(recs), m, len(log.Records), n)
		}
		var again []byte
		for i := range log.Records {
			b, err := MarshalSeq(&log.Records[i])
			if err != nil {
				t.Fatalf("record %d parsed but does not marshal: %v", i, err)
			}
			again = append(again, b...)
		}
		back, _, err2 := ParseSeq(again)
		if err2 != nil || len(back) != len(log.Records) {
			t.Fatalf("written back: %d records, %v", len(back), err2)
		}
		for i := range back {
			x, _ := MarshalSeq(&back[i])
			y, _ := MarshalSeq(&log.Records[i])
			if !bytes.Equal(x, y) {
				t.Fatalf("record %d changed on the way back:\n%s\n%s", i, x, y)
			}
		}
		log.Replay(Initial(pcrsel.Banks(), 0))
	})
}

// FuzzParseFirmware: any input parses or fails, never panics or
// allocates past its size; what parses replays.
func FuzzParseFirmware(f *testing.F) {
	f.Add(fixture(f, "gce-ubuntu-2104.bin")[:2000])
	f.Add(fixture(f, "uefi-sha1.bin")[:1000])
	f.Add(putLE32(0, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		fw, err := ParseFirmware(data)
		if err != nil {
			return
		}
		total := 0
		for _, ev := range fw.Events {
			if ev.PCR < 0 || ev.PCR >= NumPCRs {
				t.Fatalf("event on pcr %d", ev.PCR)
			}
			total += len(ev.Data)
			for _, d := range ev.Digests {
				total += len(d.Value)
			}
		}
		if total > len(data) {
			t.Fatalf("%d bytes of events from %d of input", total, len(data))
		}
		fw.Replay(Initial(pcrsel.Banks(), fw.Locality))
	})
}
