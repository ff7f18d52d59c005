package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// statusFields reads the status file as who sees it.
func statusFields(t *testing.T, text string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("status line %q is not key: value", line)
		}
		m[k] = v
	}
	return m
}

// count is the number a status value starts with; 0 for a missing line.
func count(t *testing.T, m map[string]string, key string) int {
	t.Helper()
	v, ok := m[key]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.Fields(v)[0], ","))
	if err != nil {
		t.Fatalf("status %s: %q does not start with a number", key, v)
	}
	return n
}

// TestStatusCounts checks the status file against the operations a
// script performed: N cats of a PCR are N PCR reads answered by at most N
// PCR_Read commands; random reads are GetRandom commands; each user sees
// their own sealed objects, root sees all; an open tpmrm0 shows.
func TestStatusCounts(t *testing.T) {
	tpm := swtpmtest.Start(t)
	m := mountShared(t, tpm.Source(), "allow_other,seal_mode=1777")
	before := statusFields(t, sh(t, "cat "+m.Path("status")))
	const n = 20
	sh(t, fmt.Sprintf("for i in $(seq %d); do cat %s > /dev/null; done", n, m.Path("pcrs", "sha256", "00")))
	sh(t, "head -c 64 "+m.Path("random")+" > /dev/null")
	nobody.must(t, fmt.Sprintf("mkdir %[1]s && printf 12345 > %[1]s/data", m.Path("seal", "n")))
	sh(t, fmt.Sprintf("mkdir %[1]s && printf 1234567 > %[1]s/data", m.Path("seal", "r")))

	raw, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	after := statusFields(t, sh(t, "cat "+m.Path("status")))
	reads := count(t, after, "pcr_reads") - count(t, before, "pcr_reads")
	cmds := count(t, after, "command.TPM2_CC_PCR_Read") - count(t, before, "command.TPM2_CC_PCR_Read")
	if reads != n || cmds < 1 || cmds > n {
		t.Errorf("%d cats: status counts %d PCR reads by %d PCR_Read commands", n, reads, cmds)
	}
	if count(t, after, "command.TPM2_CC_GetRandom") <= count(t, before, "command.TPM2_CC_GetRandom") {
		t.Errorf("no GetRandom counted after reading random: %q", after["command.TPM2_CC_GetRandom"])
	}
	if after["tpm"] == "" || !strings.HasPrefix(after["tpm"], "reachable since ") || after["last_error"] != "none" {
		t.Errorf("tpm %q, last_error %q", after["tpm"], after["last_error"])
	}
	if after["sealed.uid.65534"] != "1 objects, 5 bytes" || after["sealed.uid.0"] != "1 objects, 7 bytes" {
		t.Errorf("root's view of sealed objects: %q, %q", after["sealed.uid.65534"], after["sealed.uid.0"])
	}
	if after["raw.uid.0"] != "1 open, 0 objects, 0 sessions" {
		t.Errorf("root's open tpmrm0: %q", after["raw.uid.0"])
	}
	mine := statusFields(t, nobody.must(t, "cat "+m.Path("status")))
	if mine["sealed.uid.65534"] != "1 objects, 5 bytes" || mine["sealed.uid.0"] != "" || mine["raw.uid.0"] != "" {
		t.Errorf("nobody's view: %v", mine)
	}
	if theirs := statusFields(t, other.must(t, "cat "+m.Path("status"))); theirs["sealed.uid.65534"] != "" {
		t.Errorf("another user sees nobody's objects: %v", theirs)
	}
	// Killed swtpm: the status says unreachable, with the error.
	tpm.Stop()
	os.ReadFile(m.Path("pcrs", "00"))
	down := statusFields(t, sh(t, "cat "+m.Path("status")))
	if !strings.HasPrefix(down["tpm"], "unreachable since ") || down["last_error"] == "none" {
		t.Errorf("after swtpm stopped: tpm %q, last_error %q", down["tpm"], down["last_error"])
	}
}
