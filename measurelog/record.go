package measurelog

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"tpmfs/eventlog"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/pcrsel"
)

// pendingFile is .eventlog.pending: the record of the extend in flight,
// with what settling it needs: the boot it belongs to and each bank's
// value before the extend.
type pendingFile struct {
	Version int               `json:"version"`
	Boot    pendingBoot       `json:"boot"`
	Before  []eventlog.Digest `json:"before"`
	Record  json.RawMessage   `json:"record"`
}

type pendingBoot struct {
	Family       string       `json:"family"`
	ResetCount   uint32       `json:"reset_count"`
	RestartCount uint32       `json:"restart_count"`
	TickNonce    eventlog.Hex `json:"tick_nonce"`
}

const pendingVersion = 1

// Pending is the record of an extend whose outcome is not known yet.
func (j *Journal) Pending() *tpmcore.Extension { return j.pending }

// Begin writes e's record to .eventlog.pending and syncs it.
func (j *Journal) Begin(e *tpmcore.Extension) error {
	if !j.hasBoot || e.Boot != j.boot {
		return fmt.Errorf("event log: record of boot %v in the log of %v", e.Boot, j.boot)
	}
	rec := eventlog.Record{Recnum: j.next, PCR: e.PCR, ContentType: eventlog.ContentType}
	var before []eventlog.Digest
	for i, d := range e.Digests {
		rec.Digests = append(rec.Digests, eventlog.Digest{Alg: d.Bank.Name, Value: d.Value})
		before = append(before, eventlog.Digest{Alg: d.Bank.Name, Value: e.Before[i]})
	}
	c := &eventlog.Content{Type: eventlog.TypeDigest, Time: e.Time.UTC(), UID: &e.UID}
	if e.Measured {
		c = eventlog.EventContent(e.UID, e.Time, e.Event)
	}
	var err error
	if rec.Content, err = c.Marshal(); err != nil {
		return err
	}
	line, err := eventlog.MarshalSeq(&rec)
	if err != nil {
		return err
	}
	if j.Size()+int64(len(line)) > MaxSize {
		return ErrFull
	}
	b := e.Boot
	data, err := json.Marshal(pendingFile{
		Version: pendingVersion,
		Boot:    pendingBoot{b.Family, b.ResetCount, b.RestartCount, b.TickNonce[:]},
		Before:  before,
		Record:  bytes.TrimSuffix(line[1:], []byte("\n")),
	})
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	if err := j.writePending(data); err != nil {
		return fmt.Errorf("event log: write %s: %w", pendingName, err)
	}
	j.pending, j.pendLine = e, line
	return nil
}

// writePending replaces the pending record by data, durably. The file
// is overwritten in place, not truncated (which would cost the file
// system a metadata commit per extend): a header line gives the length
// and SHA-256 of the JSON after it, so what follows is ignored, and a
// write a crash cut short does not check out.
func (j *Journal) writePending(data []byte) error {
	sum := sha256.Sum256(data)
	payload := append(fmt.Appendf(nil, "%s %d %x\n", pendingMagic, len(data), sum), data...)
	return j.write(pendingName, os.O_CREATE, func(f *os.File) error {
		if _, err := f.WriteAt(payload, 0); err != nil {
			return err
		}
		return syncData(f)
	})
}

// pendingMagic starts the pending file's header line.
const pendingMagic = "tpmfs-pending"

// pendingJSON returns the JSON the pending file's header vouches for.
func pendingJSON(b []byte) ([]byte, error) {
	head, rest, ok := bytes.Cut(b, []byte("\n"))
	var n int
	var sum []byte
	if !ok || len(head) > 100 {
		return nil, fmt.Errorf("%s: no header", pendingName)
	}
	if _, err := fmt.Sscanf(string(head), pendingMagic+" %d %x", &n, &sum); err != nil || n < 0 || n > len(rest) {
		return nil, fmt.Errorf("%s: bad header %q", pendingName, head)
	}
	if got := sha256.Sum256(rest[:n]); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%s: record does not match its checksum (a write cut short)", pendingName)
	}
	return rest[:n], nil
}

// Resolve appends the pending record (done) or drops it. An append that
// fails leaves the log as it was and the record pending.
func (j *Journal) Resolve(done bool) error {
	if j.pending == nil {
		return nil
	}
	if !done {
		j.dropPending()
		return nil
	}
	j.mu.Lock()
	sh, size := j.file, j.size
	j.mu.Unlock()
	if sh == nil {
		return errors.New("event log: no log to append to")
	}
	err := j.write(logName, 0, func(f *os.File) error {
		if !sameFile(f, sh.f) {
			return fmt.Errorf("%s was replaced under tpmfs", logName)
		}
		if _, err := f.WriteAt(j.pendLine, size); err != nil {
			f.Truncate(size)
			return err
		}
		return syncData(f)
	})
	if err != nil {
		return fmt.Errorf("event log: append record %d: %w", j.next, err)
	}
	j.mu.Lock()
	j.size += int64(len(j.pendLine))
	j.mu.Unlock()
	j.next++
	j.pending, j.pendLine = nil, nil
	return nil
}

// sameFile reports whether a and b are the same file.
func sameFile(a, b *os.File) bool {
	sa, err1 := a.Stat()
	sb, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// dropPending forgets the pending record. Spoiling the file's header is
// only tidiness: a record left there whose extend was not made is
// dropped again by the next settle, as the PCR says.
func (j *Journal) dropPending() {
	j.pending, j.pendLine = nil, nil
	j.write(pendingName, 0, func(f *os.File) error {
		_, err := f.WriteAt([]byte("dropped"), 0)
		return err
	})
}

// loadPending takes up the pending file a crash left: a whole record
// numbered next in this boot's log. Anything else in it (an empty or
// partial file, a record already appended, another boot's) is ignored.
func (j *Journal) loadPending() {
	f, err := j.store.OpenFile(pendingName, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		j.log.WithError(err).Warn("event log: pending record unreadable; ignored")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize))
	if err != nil || len(data) == 0 {
		return
	}
	if data, err = pendingJSON(data); err != nil {
		j.log.WithError(err).Debug("event log: no pending record")
		return
	}
	e, line, err := parsePending(data)
	if err != nil {
		j.log.WithError(err).Debug("event log: no pending record")
		return
	}
	rec, _, _ := eventlog.ParseSeq(line)
	if rec[0].Recnum != j.next || e.Boot != j.boot {
		return
	}
	j.pending, j.pendLine = e, line
	j.log.WithField("recnum", j.next).WithField("pcr", e.PCR).Info("event log: an extend was in flight when tpmfs stopped; the PCR will tell whether it was made")
}

// parsePending reads a pending file back into the extension it records
// and its log line.
func parsePending(data []byte) (*tpmcore.Extension, []byte, error) {
	var p pendingFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", pendingName, err)
	}
	if p.Version != pendingVersion {
		return nil, nil, fmt.Errorf("%s: version %d", pendingName, p.Version)
	}
	line := append(append([]byte{eventlog.RS}, p.Record...), '\n')
	recs, _, err := eventlog.ParseSeq(line)
	if err != nil || len(recs) != 1 {
		return nil, nil, fmt.Errorf("%s: record: %w", pendingName, err)
	}
	r := &recs[0]
	c, err := eventlog.ParseContent(r.Content)
	if err != nil || r.ContentType != eventlog.ContentType || c.Type == eventlog.TypeBoot || len(p.Before) != len(r.Digests) {
		return nil, nil, fmt.Errorf("%s: not the record of an extend", pendingName)
	}
	e := &tpmcore.Extension{PCR: r.PCR, Measured: c.Type == eventlog.TypeEvent, Time: c.Time, UID: *c.UID}
	e.Boot = tpmcore.Boot{Family: p.Boot.Family, ResetCount: p.Boot.ResetCount, RestartCount: p.Boot.RestartCount}
	copy(e.Boot.TickNonce[:], p.Boot.TickNonce)
	for i, d := range r.Digests {
		b, _ := pcrsel.BankByName(d.Alg)
		if p.Before[i].Alg != d.Alg || len(p.Before[i].Value) != b.Size {
			return nil, nil, fmt.Errorf("%s: value before of bank %s", pendingName, d.Alg)
		}
		e.Digests = append(e.Digests, tpmcore.Digest{Bank: b, Value: d.Value})
		e.Before = append(e.Before, p.Before[i].Value)
	}
	return e, line, nil
}
