package tests

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// Events and digests, into several banks and PCRs, by several users: an
// independent replay of eventlog/tpmfs equals every PCR tpm2_pcrread
// reads, and each record says who wrote what.
func TestEventlogReplayEqualsPcrread(t *testing.T) {
	require(t, "tpm2_pcrread", "setpriv", "yes")
	tpm := swtpmtest.Start(t)
	m := mountShared(t, tpm.Source(), "allow_other,pcr_mode=0666")
	d1, d256, d384, d512 := make([]byte, 20), make([]byte, 32), make([]byte, 48), make([]byte, 64)
	for _, d := range [][]byte{d1, d256, d384, d512} {
		rand.Read(d)
	}
	big := bytes.Repeat([]byte("0123456789abcde\n"), 400) // 6400 bytes: recorded by size
	type step struct {
		who    asUser
		script string
		pcr    int
		kind   string
		digest map[string]string // bank → digest the record must hold
		data   []byte            // event data
	}
	events := func(data []byte) map[string]string {
		out := map[string]string{}
		for b, h := range bankHashes {
			out[b] = sha(h, data)
		}
		return out
	}
	steps := []step{
		{root.asUser(), "printf 'boot component v1' > %s/pcrs/16", 16, "event", events([]byte("boot component v1")), []byte("boot component v1")},
		{nobody, fmt.Sprintf("echo %x > %%s/pcrs/sha1/16", d1), 16, "digest", map[string]string{"sha1": hex.EncodeToString(d1)}, nil},
		{other, "printf other > %s/pcrs/23", 23, "event", events([]byte("other")), []byte("other")},
		{root.asUser(), fmt.Sprintf("echo %X > %%s/pcrs/sha384/23", d384), 23, "digest", map[string]string{"sha384": hex.EncodeToString(d384)}, nil},
		{member, "yes 0123456789abcde | head -c 6400 > %s/pcrs/12", 12, "event", events(big), nil},
		{nobody, fmt.Sprintf("echo 0x%x > %%s/pcrs/sha512/12", d512), 12, "digest", map[string]string{"sha512": hex.EncodeToString(d512)}, nil},
		{other, fmt.Sprintf("echo %x > %%s/pcrs/sha256/16", d256), 16, "digest", map[string]string{"sha256": hex.EncodeToString(d256)}, nil},
	}
	for _, s := range steps {
		if s.who.uid == 0 {
			sh(t, fmt.Sprintf(s.script, m.Dir))
		} else {
			s.who.must(t, fmt.Sprintf(s.script, m.Dir))
		}
	}
	recs := parseCEL(t, []byte(nobody.must(t, "cat "+m.Path("eventlog", "tpmfs"))))
	if len(recs) != len(steps)+1 {
		t.Fatalf("%d records, want the header and %d", len(recs), len(steps))
	}
	if h := recs[0]; h.field("type") != "boot" || h.field("family") != "2.0" || h.field("reset_count") == "" || len(h.Digests) != 0 {
		t.Errorf("header: %+v", h)
	}
	for i, s := range steps {
		r := recs[i+1]
		if r.PCR != s.pcr || r.field("type") != s.kind || r.field("uid") != itoa(s.who.uid) || len(r.Digests) != len(s.digest) {
			t.Errorf("record %d: pcr %d type %s uid %s, %d digests; want %d %s %d, %d", i+1, r.PCR, r.field("type"), r.field("uid"), len(r.Digests), s.pcr, s.kind, s.who.uid, len(s.digest))
		}
		for b, want := range s.digest {
			if got := r.digestOf(b); got != want {
				t.Errorf("record %d: %s digest %s, want %s", i+1, b, got, want)
			}
		}
		if s.kind == "event" {
			size := len(s.data)
			if s.data == nil {
				size = len(big)
			}
			if r.field("size") != itoa(size) || r.field("data") != hex.EncodeToString(s.data) {
				t.Errorf("record %d: size %s data %q", i+1, r.field("size"), r.field("data"))
			}
		}
		if ts, err := time.Parse(time.RFC3339Nano, r.field("time")); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("record %d: time %q", i+1, r.field("time"))
		}
	}
	for k, v := range verifyLines(t, m) {
		if v != "ok" && k != "firmware" && k != "tpmfs" {
			t.Errorf("verify %s: %s", k, v)
		}
	}
	want := replayCEL(t, recs)
	m.unmount(t) // swtpm serves one client: tpm2-tools come after
	for _, b := range []string{"sha1", "sha256", "sha384", "sha512"} {
		for _, pcr := range []int{12, 15, 16, 23} {
			if got := pcrreadTool(t, tpm.TCTI(), b, pcr); got != want[fmt.Sprintf("%s:%d", b, pcr)] {
				t.Errorf("%s:%d: tpm2_pcrread %s, replay of the log %s", b, pcr, got, want[fmt.Sprintf("%s:%d", b, pcr)])
			}
		}
	}
}

// asUser lets root run steps as the others do.
func (rootUser) asUser() asUser { return asUser{} }

// The log is kept in the state directory and goes on numbering after a
// restart of tpmfs.
func TestEventlogSurvivesRestart(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	m := mountTPM(t, tpm.Source(), "state="+state)
	sh(t, fmt.Sprintf("printf one > %[1]s/pcrs/16 && printf two > %[1]s/pcrs/16", m.Dir))
	first, _ := os.ReadFile(m.Path("eventlog", "tpmfs"))
	m.unmount(t)
	if disk, _ := os.ReadFile(filepath.Join(state, ".eventlog")); !bytes.Equal(disk, first) {
		t.Fatalf("the state directory's .eventlog differs from eventlog/tpmfs:\n%q\n%q", disk, first)
	}
	if st, _ := os.Stat(filepath.Join(state, ".eventlog")); st.Mode().Perm() != 0o600 {
		t.Errorf(".eventlog has mode %v", st.Mode().Perm())
	}
	m = mountTPM(t, tpm.Source(), "state="+state)
	sh(t, "printf three > "+m.Path("pcrs", "16"))
	now, _ := os.ReadFile(m.Path("eventlog", "tpmfs"))
	if !bytes.HasPrefix(now, first) {
		t.Fatal("the log was not continued")
	}
	recs := parseCEL(t, now)
	if len(recs) != 4 || recs[3].field("data") != hex.EncodeToString([]byte("three")) {
		t.Fatalf("after a restart: %d records, the last %+v", len(recs), recs[len(recs)-1])
	}
	if v := replayCEL(t, recs)["sha256:16"]; v != readPCR(t, m.Path("pcrs", "sha256", "16")) {
		t.Error("the continued log does not replay to PCR 16")
	}
}

// checkReplay checks that eventlog/tpmfs replays to the PCRs a loop of
// writers extends, read through the mount, and returns its records.
func checkReplay(t *testing.T, m *mount, pcrs ...int) []celRecord {
	t.Helper()
	recs := readCEL(t, m.Path("eventlog", "tpmfs"))
	want := replayCEL(t, recs)
	for _, b := range []string{"sha1", "sha256", "sha384", "sha512"} {
		for _, pcr := range pcrs {
			if got := readPCR(t, m.Path("pcrs", b, fmt.Sprintf("%02d", pcr))); got != want[fmt.Sprintf("%s:%d", b, pcr)] {
				t.Fatalf("%s:%d = %s, the log replays to %s (%d records)", b, pcr, got, want[fmt.Sprintf("%s:%d", b, pcr)], len(recs))
			}
		}
	}
	return recs
}

// kill -9 of the daemon in the middle of a loop of extends and events,
// again and again: after each restart the log replays to the PCRs, and
// numbers on.
func TestEventlogKill9Loop(t *testing.T) {
	require(t, "tpm2_pcrread")
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	records, inFlight := 0, 0
	for round := range 8 {
		m := mountTPM(t, tpm.Source(), "state="+state)
		recs := checkReplay(t, m, 16, 23)
		if strings.Contains(m.Stderr(), "was in flight when tpmfs stopped") {
			inFlight++
		}
		if len(recs) < records {
			t.Fatalf("round %d: %d records, %d before", round, len(recs), records)
		}
		records = len(recs)
		var writers []*exec.Cmd
		for _, script := range []string{
			`i=0; while printf "event $i" > $M/pcrs/16; do i=$((i+1)); done`,
			`i=0; while printf '%064x\n' $i > $M/pcrs/sha256/23; do i=$((i+1)); done`,
			`i=0; while head -c 5000 /dev/urandom > $M/pcrs/23; do i=$((i+1)); done`,
		} {
			w := exec.Command("sh", "-c", script)
			w.Env = append(os.Environ(), "M="+m.Dir)
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			writers = append(writers, w)
		}
		time.Sleep(time.Duration(50+mrand.IntN(250)) * time.Millisecond)
		m.killDetach(t)
		for _, w := range writers {
			done := make(chan struct{})
			go func() { w.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				w.Process.Kill()
				<-done
			}
		}
	}
	m := mountTPM(t, tpm.Source(), "state="+state)
	recs := checkReplay(t, m, 16, 23)
	t.Logf("%d records after 8 kills, %d of which left a pending record to settle", len(recs), inFlight)
	if len(recs) < 9 {
		t.Errorf("only %d records: the writers did not extend", len(recs))
	}
	m.unmount(t)
	want := replayCEL(t, recs)
	for _, b := range []string{"sha1", "sha256"} {
		if got := pcrreadTool(t, tpm.TCTI(), b, 23); got != want[b+":23"] {
			t.Errorf("%s:23: tpm2_pcrread %s, replay %s", b, got, want[b+":23"])
		}
	}
}

// A TPM restart (swtpm restarted with startup-clear) starts a new log,
// under a running tpmfs as under a stopped one; the old one is kept.
func TestEventlogNewLogPerTPMBoot(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	m := mountTPM(t, tpm.Source(), "state="+state)
	sh(t, "printf 'first boot' > "+m.Path("pcrs", "16"))
	first, _ := os.ReadFile(m.Path("eventlog", "tpmfs"))
	reset := parseCEL(t, first)[0].field("reset_count")

	tpm.Stop()
	tpm.Restart(t)
	sh(t, "printf 'second boot' > "+m.Path("pcrs", "16"))
	recs := checkReplay(t, m, 16)
	if len(recs) != 2 || recs[0].field("reset_count") != itoa(atoi(reset)+1) || recs[1].Recnum != 1 {
		t.Fatalf("after a TPM restart: %d records, header %+v", len(recs), recs[0].Content)
	}
	if old, _ := os.ReadFile(filepath.Join(state, ".eventlog.1")); !bytes.Equal(old, first) {
		t.Errorf(".eventlog.1 is not the first boot's log:\n%s", old)
	}
	if !hasLogLine(m, "the TPM was reset") {
		t.Error("no log line about the new log")
	}
	second, _ := os.ReadFile(m.Path("eventlog", "tpmfs"))
	m.unmount(t)

	// Restarted while tpmfs was not running: the first read starts it.
	tpm.Stop()
	tpm.Restart(t)
	m = mountTPM(t, tpm.Source(), "state="+state)
	recs = readCEL(t, m.Path("eventlog", "tpmfs"))
	if len(recs) != 1 || recs[0].field("reset_count") != itoa(atoi(reset)+2) {
		t.Fatalf("after a restart while unmounted: %d records, header %+v", len(recs), recs[0].Content)
	}
	if old, _ := os.ReadFile(filepath.Join(state, ".eventlog.1")); !bytes.Equal(old, second) {
		t.Errorf(".eventlog.1 is not the second boot's log")
	}
}

// verify says ok for what the logs explain and names a PCR extended
// behind tpmfs's back, through tpmrm0, with both values.
func TestEventlogVerify(t *testing.T) {
	require(t, "tpm2_pcrextend")
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	v := verifyLines(t, m)
	if len(v) != 4*24+2 || v["firmware"] != "none" || !strings.HasPrefix(v["tpmfs"], "0 records, TPM 2.0 reset ") {
		t.Fatalf("verify of a fresh TPM: %v", v)
	}
	sh(t, fmt.Sprintf("printf measured > %[1]s/pcrs/16 && echo %[2]s > %[1]s/pcrs/sha1/07", m.Dir, strings.Repeat("ab", 20)))
	d := make([]byte, 32)
	rand.Read(d)
	run(t, "tpm2_pcrextend", "-T", "device:"+m.Path("tpmrm0"), fmt.Sprintf("16:sha256=%x", d))
	now := readPCR(t, m.Path("pcrs", "sha256", "16"))
	replayed := extended(crypto.SHA256, strings.Repeat("0", 64), hashOf(crypto.SHA256, []byte("measured")))
	for k, s := range verifyLines(t, m) {
		switch k {
		case "firmware", "tpmfs":
		case "sha256:16":
			if want := "replayed " + replayed + " current " + now; s != want {
				t.Errorf("sha256:16: %q, want %q", s, want)
			}
		default:
			if s != "ok" {
				t.Errorf("%s: %s", k, s)
			}
		}
	}
}

// The logs read for every user by default; log_mode= and gid= keep them
// to a group. Nobody writes them, root included.
func TestEventlogModes(t *testing.T) {
	tpm := swtpmtest.Start(t)
	ima := securityfsDir(t, map[string][]byte{"ima/ascii_runtime_measurements": []byte("10 abc ima-ng sha256:00 /usr/bin/secret-tool\n")})
	open := mountShared(t, tpm.Source(), "allow_other,eventlog_dir="+ima)
	if out := nobody.must(t, "cat "+open.Path("eventlog", "ima-ascii")); !strings.Contains(out, "secret-tool") {
		t.Errorf("ima-ascii as nobody: %q", out)
	}
	root.refused(t, syscall.EACCES, "echo x > "+open.Path("eventlog", "tpmfs"))
	root.refused(t, syscall.EACCES, "echo x >> "+open.Path("eventlog", "ima-ascii"))
	open.unmount(t)

	m := mountShared(t, tpm.Source(), "allow_other,log_mode=0440,gid="+itoa(permGroup), "eventlog_dir="+ima)
	for _, name := range []string{"tpmfs", "ima-ascii", "verify"} {
		if a := statAttr(t, m.Path("eventlog", name)); a.mode != syscall.S_IFREG|0o440 || a.gid != permGroup {
			t.Errorf("eventlog/%s: %v", name, a)
		}
		nobody.refused(t, syscall.EACCES, "cat "+m.Path("eventlog", name))
		member.must(t, "cat "+m.Path("eventlog", name)+" >/dev/null")
	}
	if a := statAttr(t, m.Path("eventlog")); a.mode != syscall.S_IFDIR|0o755 {
		t.Errorf("eventlog/: %v", a)
	}
}

// A full or read-only state directory refuses extends (the log cannot
// record them) with ENOSPC or EROFS, where echo sees it, and the PCR is
// unchanged; with room again they work, with no restart. A read-only
// mount refuses them with EROFS and still shows the log.
func TestEventlogFullStateDirRefusesExtend(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	mountTmpfs(t, state, "size=256k,mode=0700")
	m := mountTPM(t, tpm.Source(), "state="+state)
	before := readPCR(t, m.Path("pcrs", "sha256", "16"))
	fillDisk(t, filepath.Join(state, ".filler"))
	for _, script := range []string{"printf event > %s/pcrs/16", "echo " + strings.Repeat("cd", 32) + " > %s/pcrs/sha256/16"} {
		out, err := runErr("bash", "-c", fmt.Sprintf(script, m.Dir))
		if err == nil || !strings.Contains(out, "No space left on device") {
			t.Errorf("%s into a full state dir: %v %q", script, err, out)
		}
	}
	if got := readPCR(t, m.Path("pcrs", "sha256", "16")); got != before {
		t.Fatalf("pcr 16 changed to %s", got)
	}
	os.Remove(filepath.Join(state, ".filler"))
	sh(t, "printf event > "+m.Path("pcrs", "16"))
	checkReplay(t, m, 16)

	// The state directory's file system remounted read-only under the
	// daemon (tpmfs keeps no file open for writing there): EROFS.
	if err := syscall.Mount("", state, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	before = readPCR(t, m.Path("pcrs", "sha256", "16"))
	root.refused(t, syscall.EROFS, "printf x > "+m.Path("pcrs", "16"))
	root.refused(t, syscall.EROFS, "echo "+strings.Repeat("cd", 32)+" > "+m.Path("pcrs", "sha256", "16"))
	if got := readPCR(t, m.Path("pcrs", "sha256", "16")); got != before {
		t.Fatalf("pcr 16 changed under a read-only state dir")
	}
	if err := syscall.Mount("", state, "", syscall.MS_REMOUNT, ""); err != nil {
		t.Fatalf("remount read-write: %v", err)
	}
	sh(t, "printf again > "+m.Path("pcrs", "16"))
	checkReplay(t, m, 16)
	m.unmount(t)

	ro := mountTPM(t, tpm.Source(), "state="+state, "ro")
	root.refused(t, syscall.EROFS, "printf x > "+ro.Path("pcrs", "16"))
	if recs := readCEL(t, ro.Path("eventlog", "tpmfs")); len(recs) != 3 {
		t.Errorf("read-only mount: %d records", len(recs))
	}
}

// A symlink planted as the event log refuses the mount, naming it; the
// file it points to is untouched.
func TestEventlogPlantedSymlink(t *testing.T) {
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	os.Symlink(victim, filepath.Join(state, ".eventlog"))
	mp := t.TempDir()
	t.Cleanup(func() {
		if isMounted(mp) {
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	})
	out, err := runErr(tpmfsBin, "-f", tpm.Source(), mp, "-o", "state="+state)
	if err == nil || !strings.Contains(out, ".eventlog") || !strings.Contains(out, "symlink") {
		t.Errorf("mount over a planted .eventlog: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the symlink's target now holds %q", b)
	}
}
