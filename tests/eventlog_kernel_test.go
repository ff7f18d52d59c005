package tests

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// fwEvent is one event of a binary log as tpm2_eventlog prints it.
type fwEvent struct {
	pcr     int
	typ     string
	digests [][2]string // algorithm, hex
}

// eventlogTool runs tpm2_eventlog on file and returns its events and the
// PCR values it computes ("bank:pcr" → hex): the reference, from
// tpm2-tools' own parser.
func eventlogTool(t *testing.T, file string) ([]fwEvent, map[string]string) {
	t.Helper()
	out := run(t, "tpm2_eventlog", file)
	events, pcrs, ok := strings.Cut(out, "\npcrs:\n")
	if !ok {
		t.Fatalf("tpm2_eventlog %s printed no pcrs", file)
	}
	var evs []fwEvent
	for _, line := range strings.Split(events, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		v = strings.Trim(v, `"`)
		switch k {
		case "- EventNum":
			evs = append(evs, fwEvent{})
		case "PCRIndex":
			evs[len(evs)-1].pcr = atoi(v)
		case "EventType":
			evs[len(evs)-1].typ = v
		case "- AlgorithmId":
			e := &evs[len(evs)-1]
			e.digests = append(e.digests, [2]string{v, ""})
		case "Digest":
			if e := &evs[len(evs)-1]; len(e.digests) > 0 && e.digests[len(e.digests)-1][1] == "" {
				e.digests[len(e.digests)-1][1] = v
			}
		}
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
	return evs, vals
}

// firmwareDir is a securityfs holding log as tpm0's firmware log.
func firmwareDir(t *testing.T, log []byte) (dir, file string) {
	t.Helper()
	dir = securityfsDir(t, map[string][]byte{"tpm0/binary_bios_measurements": log})
	return dir, filepath.Join(dir, "tpm0", "binary_bios_measurements")
}

// eventlog/firmware is the kernel's log byte for byte, with its size,
// and tpm2_eventlog reads it as it reads the file; verify replays it.
func TestEventlogFirmware(t *testing.T) {
	require(t, "tpm2_eventlog", "tpm2_pcrextend", "cmp")
	tpm := swtpmtest.Start(t)
	log := fixture(t, "gce-ubuntu-2104.bin")
	dir, file := firmwareDir(t, log)
	m := mountTPM(t, tpm.Source(), "eventlog_dir="+dir)
	path := m.Path("eventlog", "firmware")
	run(t, "cmp", path, file)
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(log)) {
		t.Errorf("stat eventlog/firmware: %v, %v; want %d bytes", st, err, len(log))
	}
	for _, absent := range []string{"ima-ascii", "ima-binary"} {
		if _, err := os.Stat(m.Path("eventlog", absent)); !os.IsNotExist(err) {
			t.Errorf("eventlog/%s without the kernel's: %v", absent, err)
		}
	}
	if got, want := run(t, "tpm2_eventlog", path), run(t, "tpm2_eventlog", file); got != want {
		t.Errorf("tpm2_eventlog on eventlog/firmware differs from the file's")
	}

	// Nothing measured yet: the log explains none of PCRs 0-9 and 14.
	v := verifyLines(t, m)
	events, want := eventlogTool(t, file)
	if v["firmware"] != fmt.Sprintf("%d events", len(events)-1) || v["sha256:0"] == "ok" || v["sha256:15"] != "ok" {
		t.Fatalf("verify before the firmware's extends: %v", v)
	}
	// The firmware's extends, made as firmware makes them: not through
	// tpmfs's files (tpmrm0 here), so only the firmware log explains them.
	args := []string{"-T", "device:" + m.Path("tpmrm0")}
	for _, ev := range events {
		if ev.typ == "EV_NO_ACTION" {
			continue
		}
		var ds []string
		for _, d := range ev.digests {
			ds = append(ds, d[0]+"="+d[1])
		}
		args = append(args, fmt.Sprintf("%d:%s", ev.pcr, strings.Join(ds, ",")))
	}
	run(t, "tpm2_pcrextend", args...)
	for k, s := range verifyLines(t, m) {
		if k != "firmware" && k != "tpmfs" && s != "ok" {
			t.Errorf("verify %s after the firmware's extends: %s", k, s)
		}
	}
	for k, val := range want {
		bank, pcr, _ := strings.Cut(k, ":")
		if got := readPCR(t, m.Path("pcrs", bank, fmt.Sprintf("%02d", atoi(pcr)))); got != val {
			t.Errorf("%s = %s, tpm2_eventlog computes %s", k, got, val)
		}
	}
}

// The fixture's PCR 0-7 digests replayed into a fresh swtpm through
// pcrs/<bank>/NN give the PCRs tpm2_eventlog computes, and a quote of
// them by an attestation key of ak/ verifies with tpm2_checkquote -e
// eventlog/firmware; once a PCR is extended past the log, it does not.
func TestEventlogFirmwareQuote(t *testing.T) {
	require(t, "tpm2_eventlog", "tpm2_checkquote")
	tpm := swtpmtest.Start(t)
	dir, file := firmwareDir(t, fixture(t, "gce-ubuntu-2104.bin"))
	m := mountTPM(t, tpm.Source(), "eventlog_dir="+dir)
	events, want := eventlogTool(t, file)
	replayFirmwarePCRs(t, m, events, 7)
	for pcr := 0; pcr <= 7; pcr++ {
		for _, b := range []string{"sha1", "sha256", "sha384"} {
			if got := readPCR(t, m.Path("pcrs", b, fmt.Sprintf("%02d", pcr))); got != want[fmt.Sprintf("%s:%d", b, pcr)] {
				t.Fatalf("%s:%d = %s after the replay, tpm2_eventlog computes %s", b, pcr, got, want[fmt.Sprintf("%s:%d", b, pcr)])
			}
		}
	}
	work := t.TempDir()
	if err := os.Mkdir(m.Path("ak", "verifier"), 0o700); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(m.Path("ak", "verifier", "public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, work, map[string][]byte{"ak.pem": pub})
	quote := func(nonce string) (string, error) {
		q := parseQuote(t, sh(t, quoteScript(m.Path("ak", "verifier", "quote"), "sha256:0-7 nonce="+nonce)))
		writeFiles(t, work, map[string][]byte{"attest": q.Attest, "sig": q.Signature, "pcrs": q.PCRsSerialized})
		return runErr("tpm2_checkquote", "-u", filepath.Join(work, "ak.pem"), "-m", filepath.Join(work, "attest"), "-s", filepath.Join(work, "sig"),
			"-f", filepath.Join(work, "pcrs"), "-g", "sha256", "-q", nonce, "-e", m.Path("eventlog", "firmware"))
	}
	if out, err := quote("1a2b3c4d"); err != nil {
		t.Fatalf("tpm2_checkquote -e eventlog/firmware: %v\n%s", err, out)
	}
	// A measurement the firmware's log does not have: the quote no
	// longer matches the log.
	sh(t, "echo "+strings.Repeat("ee", 32)+" > "+m.Path("pcrs", "sha256", "07"))
	if out, err := quote("5e6f7a8b"); err == nil {
		t.Fatalf("tpm2_checkquote -e accepted PCR 7 extended past the log:\n%s", out)
	}
}

// replayFirmwarePCRs writes the digests of the events on PCRs 0..upTo to
// pcrs/<bank>/NN, for the banks the mount has.
func replayFirmwarePCRs(t *testing.T, m *mount, events []fwEvent, upTo int) {
	t.Helper()
	for _, ev := range events {
		if ev.typ == "EV_NO_ACTION" || ev.pcr > upTo {
			continue
		}
		for _, d := range ev.digests {
			path := m.Path("pcrs", d[0], fmt.Sprintf("%02d", ev.pcr))
			if _, err := os.Stat(path); err != nil {
				continue
			}
			if err := writeFile(path, []byte(d[1]+"\n")); err != nil {
				t.Fatalf("extend %s with %s: %v", path, d[1], err)
			}
		}
	}
}

// The IMA logs are snapshots per open: a reader keeps reading and seeing
// the size of the log it opened while the log grows; a thousand opens
// cost the daemon no descriptors and little memory once closed.
func TestEventlogKernelSnapshots(t *testing.T) {
	tpm := swtpmtest.Start(t)
	line := func(i int) string {
		return fmt.Sprintf("10 %040x ima-ng sha256:%064x /usr/bin/prog%d\n", i, i, i)
	}
	binary := []byte{10, 0, 0, 0}
	dir := securityfsDir(t, map[string][]byte{"ima/ascii_runtime_measurements": []byte(line(0)), "ima/binary_runtime_measurements": binary})
	src := filepath.Join(dir, "ima", "ascii_runtime_measurements")
	m := mountTPM(t, tpm.Source(), "eventlog_dir="+dir)
	if b, _ := os.ReadFile(m.Path("eventlog", "ima-binary")); !bytes.Equal(b, binary) {
		t.Errorf("ima-binary = %x", b)
	}
	if _, err := os.Stat(m.Path("eventlog", "firmware")); !os.IsNotExist(err) {
		t.Errorf("eventlog/firmware without the kernel's: %v", err)
	}
	pid := m.cmd.Process.Pid
	before := readProcStats(t, pid)
	type opened struct {
		f    *os.File
		want string
	}
	var files []opened
	defer func() {
		for _, o := range files {
			o.f.Close()
		}
	}()
	content := line(0)
	tpmfsNow := func() string {
		b, _ := os.ReadFile(m.Path("eventlog", "tpmfs"))
		return string(b)
	}
	tpmfsLog := tpmfsNow()
	for i := 1; i <= 1000; i++ {
		name, want := "ima-ascii", content
		if i%2 == 0 {
			name, want = "tpmfs", tpmfsLog
		}
		f, err := os.Open(m.Path("eventlog", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, opened{f, want})
		// Its size, as tpm2_eventlog takes it: lseek to the end.
		if end, err := f.Seek(0, io.SeekEnd); err != nil || end != int64(len(want)) {
			t.Fatalf("open %d of %s: size %d (%v), want %d", i, name, end, err, len(want))
		}
		f.Seek(0, io.SeekStart)
		// Both logs grow under the open files.
		if i%20 == 0 {
			content += line(i)
			os.WriteFile(src, []byte(content), 0o440)
			if err := writeFile(m.Path("pcrs", "16"), []byte(fmt.Sprintf("event %d", i))); err != nil {
				t.Fatal(err)
			}
			tpmfsLog = tpmfsNow()
		}
	}
	during := readProcStats(t, pid)
	for i, o := range files {
		if b, _ := io.ReadAll(o.f); string(b) != o.want {
			t.Fatalf("open %d reads %d bytes, want its snapshot's %d", i, len(b), len(o.want))
		}
		o.f.Close()
	}
	files = nil
	if b, _ := os.ReadFile(m.Path("eventlog", "ima-ascii")); string(b) != content {
		t.Error("a new open of ima-ascii is not the log now")
	}
	after := readProcStats(t, pid)
	t.Logf("daemon: %d fds, %d KiB before; %d fds, %d KiB with 1000 opens; %d fds after", before.fds, before.rssKiB, during.fds, during.rssKiB, after.fds)
	if after.fds > before.fds+2 || during.fds > before.fds+8 {
		t.Errorf("daemon descriptors: %d before, %d with 1000 opens, %d after", before.fds, during.fds, after.fds)
	}
	if during.rssKiB > before.rssKiB+32<<10 {
		t.Errorf("1000 opens grew the daemon from %d to %d KiB", before.rssKiB, during.rssKiB)
	}
}

// On a TPM 1.2: the firmware log in its SHA-1 form passes through as is,
// tpmfs's records are sha1 alone, the header names the tick nonce, and a
// restart of the TPM starts a new log.
func TestEventlogTPM12(t *testing.T) {
	require(t, "tpm2_eventlog", "cmp")
	tpm := swtpmtest.Start12(t, false)
	dir, file := firmwareDir(t, fixture(t, "uefi-sha1.bin"))
	state := t.TempDir()
	m := mountTPM(t, tpm.Source(), "state="+state, "eventlog_dir="+dir)
	run(t, "cmp", m.Path("eventlog", "firmware"), file)
	if got, want := run(t, "tpm2_eventlog", m.Path("eventlog", "firmware")), run(t, "tpm2_eventlog", file); got != want {
		t.Error("tpm2_eventlog on eventlog/firmware differs from the file's")
	}
	d := strings.Repeat("5a", 20)
	sh(t, fmt.Sprintf("echo %s > %s && printf 'tpm 1.2 event' > %s", d, m.Path("pcrs", "sha1", "16"), m.Path("pcrs", "16")))
	recs := readCEL(t, m.Path("eventlog", "tpmfs"))
	if len(recs) != 3 || recs[0].field("family") != "1.2" || len(recs[0].field("tick_nonce")) != 40 {
		t.Fatalf("TPM 1.2 log: %d records, header %v", len(recs), recs[0].Content)
	}
	for _, r := range recs[1:] {
		if len(r.Digests) != 1 || r.Digests[0].HashAlg != "sha1" {
			t.Errorf("record %d: digests %+v, want one sha1", r.Recnum, r.Digests)
		}
	}
	if got := hex.EncodeToString(rawPCRRead(t, m.Path("tpmrm0"), 16)); got != replayCEL(t, recs)["sha1:16"] {
		t.Errorf("pcr 16 = %s through tpmrm0, the log replays to %s", got, replayCEL(t, recs)["sha1:16"])
	}
	v := verifyLines(t, m)
	if v["sha1:16"] != "ok" || v["sha1:0"] == "ok" || len(v) != 24+2 || !strings.HasPrefix(v["tpmfs"], "2 records, TPM 1.2 tick nonce ") {
		t.Errorf("verify on a TPM 1.2: %v", v)
	}
	first, _ := os.ReadFile(m.Path("eventlog", "tpmfs"))
	tpm.Stop()
	tpm.Restart(t)
	sh(t, "printf again > "+m.Path("pcrs", "16"))
	recs2 := checkReplay12(t, m)
	if len(recs2) != 2 || recs2[0].field("tick_nonce") == recs[0].field("tick_nonce") {
		t.Fatalf("after a restart of the TPM 1.2: %d records, header %v", len(recs2), recs2[0].Content)
	}
	if old, _ := os.ReadFile(filepath.Join(state, ".eventlog.1")); !bytes.Equal(old, first) {
		t.Error(".eventlog.1 is not the first boot's log")
	}
}

func checkReplay12(t *testing.T, m *mount) []celRecord {
	t.Helper()
	recs := readCEL(t, m.Path("eventlog", "tpmfs"))
	if got, want := readPCR(t, m.Path("pcrs", "sha1", "16")), replayCEL(t, recs)["sha1:16"]; got != want {
		t.Fatalf("sha1:16 = %s, the log replays to %s", got, want)
	}
	return recs
}
