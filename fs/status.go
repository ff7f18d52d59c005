package fs

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
	"tpmfs/vault"
)

// statusFile serves "key: value" lines about the mount's health and load:
// what an administrator looks at first when something is slow or
// failing. Each open takes a snapshot. Lines about one user (raw clients,
// sealed objects) are shown to that user only; root and the mount's
// owner see every user's.
type statusFile struct {
	fixed
}

var _ = (gofs.NodeOpener)((*statusFile)(nil))

func (f *statusFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, f.root.errno(ctx, fmt.Errorf("open status for writing: %w", errNotWritable), logrus.Fields{"op": "open"})
	}
	c := caller(ctx)
	all := c.UID == 0 || c.UID == f.root.opts.UID
	text := renderStatus(f.root.tpm.Status(), f.root.objects.Usage(), c.UID, all, time.Now())
	// Direct I/O: the size the kernel knows is not this snapshot's.
	return &statusHandle{text: []byte(text)}, fuse.FOPEN_DIRECT_IO, 0
}

type statusHandle struct{ text []byte }

var _ = (gofs.FileReader)((*statusHandle)(nil))

func (h *statusHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return readAt(h.text, dest, off), 0
}

// renderStatus writes the report; uid's own lines always, every user's
// if all.
func renderStatus(s tpmcore.Status, sealed []vault.Usage, uid uint32, all bool, now time.Time) string {
	var b strings.Builder
	line := func(key, format string, args ...any) {
		fmt.Fprintf(&b, "%s: %s\n", key, fmt.Sprintf(format, args...))
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	line("uptime", "%s", now.Sub(s.Started).Round(time.Second))
	if s.Reachable {
		line("tpm", "reachable since %s", stamp(s.Since))
	} else {
		line("tpm", "unreachable since %s", stamp(s.Since))
	}
	if s.LastError == "" {
		line("last_error", "none")
	} else {
		line("last_error", "%s %s", stamp(s.LastErrAt), oneLine(s.LastError))
	}
	line("queue_depth", "%d", s.QueueDepth)
	line("queue_longest_wait", "%s", s.LongestWait.Round(time.Microsecond))
	var total, pcrCmds uint64
	for _, c := range s.Commands {
		total += c.Count
		if c.Code == s.PCRCode {
			pcrCmds = c.Count
		}
	}
	line("commands", "%d", total)
	for _, c := range s.Commands {
		line("command."+c.Name, "%d, mean %s", c.Count, c.Mean().Round(time.Microsecond))
	}
	ratio := 0.0
	if pcrCmds > 0 {
		ratio = float64(s.PCRReads) / float64(pcrCmds)
	}
	line("pcr_reads", "%d by %d commands (%.2f per command)", s.PCRReads, pcrCmds, ratio)
	var opens, objects, sessions int
	for _, r := range s.Raw {
		opens, objects, sessions = opens+r.Opens, objects+r.Objects, sessions+r.Sessions
	}
	line("raw_clients", "%d open, %d objects, %d sessions", opens, objects, sessions)
	for _, r := range s.Raw {
		if all || r.UID == uid {
			line(fmt.Sprintf("raw.uid.%d", r.UID), "%d open, %d objects, %d sessions", r.Opens, r.Objects, r.Sessions)
		}
	}
	for _, u := range sealed {
		if all || u.UID == uid {
			line(fmt.Sprintf("sealed.uid.%d", u.UID), "%d objects, %d bytes", u.Objects, u.Bytes)
		}
	}
	return b.String()
}

// oneLine keeps an error on its line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
