package measurelog

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"tpmfs/eventlog"
)

// Verify replays the firmware's log and tpmfs's, PCR by PCR and bank by
// bank, and compares each PCR with its value now. The PCRs are read in
// the same queue job as the tpmfs log is taken, so no extend through
// tpmfs falls between. It renders, after a line on each log replayed,
// one line per PCR and bank:
//
//	sha256:7: ok
//	sha256:16: replayed HEX current HEX
//
// A PCR that differs was extended by something whose log was not
// replayed: IMA (PCR 10), systemd's userspace measurements, a raw client
// of tpmrm0 or of the kernel's device, or a firmware log that is not
// this TPM's. One Verify runs at a time, so that opens of verify by many
// users cost the TPM's queue and the daemon's memory one at a time.
func (l *Logs) Verify(ctx context.Context) ([]byte, error) {
	l.verifying.Lock()
	defer l.verifying.Unlock()
	var out strings.Builder
	fw := &eventlog.Firmware{}
	if l.has(Firmware) {
		parsed, err := l.firmware()
		if err != nil {
			fmt.Fprintf(&out, "firmware: not replayed: %v\n", err)
		} else {
			fw = parsed
			fmt.Fprintf(&out, "firmware: %s\n", count(len(fw.Events), "event"))
		}
	} else {
		fmt.Fprintf(&out, "firmware: none\n")
	}
	var snap Snapshot
	vals, err := l.tpm.ReadAllPCRs(ctx, func() { snap = l.journal.Snapshot() })
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer snap.Close()
	lg, err := l.tpmfsLog(snap)
	if err != nil {
		return nil, fmt.Errorf("verify: tpmfs's log: %w", err)
	}
	if lg.Boot != nil {
		fmt.Fprintf(&out, "tpmfs: %s, %s\n", count(len(lg.Records)-1, "record"), bootOf(lg.Boot))
	} else {
		fmt.Fprintf(&out, "tpmfs: none\n")
	}
	banks := l.tpm.Banks()
	replayed := eventlog.Initial(banks, fw.Locality)
	fw.Replay(replayed)
	lg.Replay(replayed)
	for _, b := range banks {
		for pcr, now := range vals[b.Name] {
			switch want, ok := replayed[b.Name]; {
			case !ok:
				fmt.Fprintf(&out, "%s:%d: not replayed (no %s here)\n", b.Name, pcr, b.Name)
			case replayed.Equal(b.Name, pcr, now):
				fmt.Fprintf(&out, "%s:%d: ok\n", b.Name, pcr)
			default:
				fmt.Fprintf(&out, "%s:%d: replayed %s current %s\n", b.Name, pcr, hex.EncodeToString(want[pcr]), hex.EncodeToString(now))
			}
		}
	}
	return []byte(out.String()), nil
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (l *Logs) has(name string) bool {
	for _, n := range l.kernel.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// firmware reads and parses the firmware's log.
func (l *Logs) firmware() (*eventlog.Firmware, error) {
	snap, err := l.kernel.Open(Firmware)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	b, err := readAll(snap)
	if err != nil {
		return nil, err
	}
	return eventlog.ParseFirmware(b)
}

// tpmfsLog parses a snapshot of tpmfs's log; an empty one is no log.
func (l *Logs) tpmfsLog(snap Snapshot) (*eventlog.Log, error) {
	b, err := readAll(snap)
	if err != nil || len(b) == 0 {
		return &eventlog.Log{}, err
	}
	lg, _, err := eventlog.ParseLog(b)
	return lg, err
}
