package fs

import (
	"os"
	"strings"
	"testing"
	"time"

	"tpmfs/tpmcore"
	"tpmfs/vault"
)

func TestStatusFile(t *testing.T) {
	f := mountFake(t)
	for range 5 {
		if _, err := os.ReadFile(f.path("pcrs/07")); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(f.path("seal/k"), 0o700)
	os.WriteFile(f.path("seal/k/data"), []byte("12345"), 0)
	b, err := os.ReadFile(f.path("status"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"tpm: reachable since ", "last_error: none\n", "pcr_reads: 5 by 5 commands (1.00 per command)\n",
		"command.TPM2_CC_PCR_Read: 5, mean 1µs\n", "raw_clients: 3 open, 3 objects, 1 sessions\n",
		"raw.uid.1000: 2 open, 3 objects, 1 sessions\n", "sealed.uid.0: 1 objects, 5 bytes\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}
	if fi, _ := os.Stat(f.path("status")); fi.Mode().Perm() != 0o444 {
		t.Errorf("status mode %v", fi.Mode())
	}
}

// TestStatusOwnLines: a user sees their own per-user lines only; root and
// the mount's owner see every user's.
func TestStatusOwnLines(t *testing.T) {
	st := tpmcore.Status{Started: time.Unix(0, 0), Reachable: false, Since: time.Unix(60, 0),
		LastError: "TPM unavailable:\nbroken pipe", LastErrAt: time.Unix(61, 0),
		Raw: []tpmcore.RawUsage{{UID: 5, Opens: 1}, {UID: 7, Opens: 2}}}
	sealed := []vault.Usage{{UID: 5, Objects: 1, Bytes: 10}, {UID: 7, Objects: 2, Bytes: 20}}
	mine := renderStatus(st, sealed, 7, false, time.Unix(3661, 0))
	for _, want := range []string{"uptime: 1h1m1s\n", "tpm: unreachable since 1970-01-01T00:01:00Z\n",
		"last_error: 1970-01-01T00:01:01Z TPM unavailable: broken pipe\n", "raw_clients: 3 open, 0 objects, 0 sessions\n",
		"raw.uid.7: 2 open", "sealed.uid.7: 2 objects, 20 bytes\n"} {
		if !strings.Contains(mine, want) {
			t.Errorf("uid 7's status lacks %q:\n%s", want, mine)
		}
	}
	if strings.Contains(mine, "uid.5") {
		t.Errorf("uid 7 sees uid 5's lines:\n%s", mine)
	}
	if all := renderStatus(st, sealed, 0, true, time.Unix(3661, 0)); !strings.Contains(all, "raw.uid.5") || !strings.Contains(all, "sealed.uid.5") {
		t.Errorf("root does not see every user's lines:\n%s", all)
	}
}
