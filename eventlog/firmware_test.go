package eventlog

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tpmwire"
	"tpmfs/tpmcore/pcrsel"
)

// fixture reads a log of tests/testdata/eventlog (see its README).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "tests", "testdata", "eventlog", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventlogPCRs runs tpm2_eventlog on file and returns the PCR values it
// computes: "bank:index" → hex.
func eventlogPCRs(t *testing.T, file string) map[string]string {
	t.Helper()
	swtpmtest.Require(t, "tpm2_eventlog")
	out, err := exec.Command("tpm2_eventlog", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tpm2_eventlog %s: %v\n%s", file, err, out)
	}
	_, pcrs, ok := strings.Cut(string(out), "\npcrs:\n")
	if !ok {
		t.Fatalf("tpm2_eventlog printed no pcrs:\n%s", out)
	}
	vals := map[string]string{}
	bank := ""
	for _, line := range strings.Split(pcrs, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && strings.HasSuffix(f[0], ":"):
			bank = strings.TrimSuffix(f[0], ":")
		case len(f) == 3 && f[1] == ":":
			vals[bank+":"+f[0]] = strings.TrimPrefix(strings.ToLower(f[2]), "0x")
		}
	}
	return vals
}

// Replaying the fixtures gives what tpm2_eventlog computes, PCR by PCR
// and bank by bank, and every PCR the log does not touch keeps its reset
// value.
func TestFirmwareReplayAgreesWithTpm2Eventlog(t *testing.T) {
	for name, want := range map[string]struct {
		agile bool
		banks []pcrsel.Bank
	}{
		"gce-ubuntu-2104.bin": {true, []pcrsel.Bank{pcrsel.SHA1, pcrsel.SHA256, pcrsel.SHA384}},
		"uefi-sha1.bin":       {false, []pcrsel.Bank{pcrsel.SHA1}},
	} {
		t.Run(name, func(t *testing.T) {
			fw, err := ParseFirmware(fixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if fw.CryptoAgile != want.agile || fw.Locality != 0 {
				t.Fatalf("crypto-agile %v, locality %d", fw.CryptoAgile, fw.Locality)
			}
			v := Initial(append(want.banks, pcrsel.SHA512), fw.Locality)
			fw.Replay(v)
			ref := eventlogPCRs(t, filepath.Join("..", "tests", "testdata", "eventlog", name))
			if len(ref) == 0 {
				t.Fatal("tpm2_eventlog computed no PCR")
			}
			for _, b := range append(want.banks, pcrsel.SHA512) {
				for pcr := 0; pcr < NumPCRs; pcr++ {
					got := hex.EncodeToString(v[b.Name][pcr])
					exp, ok := ref[b.Name+":"+itoa(pcr)]
					if !ok {
						exp = hex.EncodeToString(Initial([]pcrsel.Bank{b}, 0)[b.Name][pcr])
					}
					if got != exp {
						t.Errorf("%s:%d replayed %s, tpm2_eventlog %s", b.Name, pcr, got, exp)
					}
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestInitialValues(t *testing.T) {
	v := Initial([]pcrsel.Bank{pcrsel.SHA256, pcrsel.SM3256}, 3)
	if _, ok := v["sm3_256"]; ok {
		t.Error("sm3_256 cannot be replayed in Go, yet has values")
	}
	p := v["sha256"]
	if p[0][31] != 3 || p[0][0] != 0 || p[16][0] != 0 || p[17][0] != 0xff || p[22][31] != 0xff || p[23][5] != 0 {
		t.Errorf("initial values: %x", *p)
	}
}

// A StartupLocality event sets PCR 0's reset value; EV_NO_ACTION events
// extend nothing.
func TestFirmwareStartupLocality(t *testing.T) {
	log := fixture(t, "gce-ubuntu-2104.bin")
	// After the Spec ID event (SHA-1 form): an agile EV_NO_ACTION event
	// on PCR 0 with one sha1 digest of zeros and "StartupLocality\0" 3.
	_, rest := splitFirst(t, log)
	ev := putLE32(0, 3, 1)
	ev = append(ev, 0x04, 0x00)
	ev = append(ev, make([]byte, 20)...)
	data := append([]byte("StartupLocality\x00"), 3)
	ev = append(ev, putLE32(uint32(len(data)))...)
	ev = append(ev, data...)
	withLoc := append(append(append([]byte(nil), log[:len(log)-len(rest)]...), ev...), rest...)
	fw, err := ParseFirmware(withLoc)
	if err != nil {
		t.Fatal(err)
	}
	if fw.Locality != 3 {
		t.Fatalf("locality %d, want 3", fw.Locality)
	}
	plain, _ := ParseFirmware(log)
	a, b := Initial([]pcrsel.Bank{pcrsel.SHA256}, fw.Locality), Initial([]pcrsel.Bank{pcrsel.SHA256}, 0)
	fw.Replay(a)
	plain.Replay(b)
	if a.Equal("sha256", 0, b["sha256"][0]) || !a.Equal("sha256", 1, b["sha256"][1]) {
		t.Error("the locality changed the wrong PCRs")
	}
}

// splitFirst returns the first (SHA-1 form) event of a log and the rest.
func splitFirst(t *testing.T, log []byte) ([]byte, []byte) {
	t.Helper()
	r := tpmwire.NewReader(log)
	if _, err := sha1Event(&r); err != nil {
		t.Fatal(err)
	}
	return log[:len(log)-r.Len()], r.Rest()
}

func putLE32(vs ...uint32) []byte {
	var out []byte
	for _, v := range vs {
		out = append(out, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return out
}

// Truncated, oversized or inconsistent logs are refused, never a panic.
func TestFirmwareMalformed(t *testing.T) {
	log := fixture(t, "gce-ubuntu-2104.bin")
	for _, cut := range []int{0, 3, 31, 40, 100, len(log) - 1} {
		if _, err := ParseFirmware(log[:cut]); err == nil {
			t.Errorf("log cut at %d bytes parsed", cut)
		}
	}
	huge := append([]byte(nil), log...)
	copy(huge[28:], putLE32(1<<31)) // the first event's size
	if _, err := ParseFirmware(huge); err == nil {
		t.Error("an event larger than the log parsed")
	}
	first, rest := splitFirst(t, log)
	badPCR := append(append(append([]byte(nil), first...), putLE32(24)...), rest[4:]...)
	if _, err := ParseFirmware(badPCR); err == nil {
		t.Error("an event on PCR 24 parsed")
	}
	badAlg := append(append([]byte(nil), first...), rest...)
	badAlg[len(first)+12] = 0x99 // the first digest's algorithm
	if _, err := ParseFirmware(badAlg); err == nil {
		t.Error("a digest of an algorithm not in the Spec ID event parsed")
	}
}
