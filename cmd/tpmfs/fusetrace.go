package main

import (
	"regexp"
	"strings"

	"github.com/sirupsen/logrus"
)

// fuseTrace passes go-fuse's debug output (every request and reply, at
// --log-level trace) to the log without the bytes of file contents it
// quotes: the first bytes of every write and read, which for seal/*/data
// are a secret. Request kinds, nodes, offsets, sizes and file names stay,
// which is what tpmfs-bench counts.
type fuseTrace struct{}

func (fuseTrace) Write(p []byte) (int, error) {
	logrus.Trace(redactFUSE(strings.TrimSuffix(string(p), "\n")))
	return len(p), nil
}

var (
	// A request's payload: "SECRETMA"... 12b (go-fuse quotes up to 8 bytes).
	fusePayload = regexp.MustCompile(`"(?:[^"\\]|\\.)*"(?:\.\.\.)? (\d+)b\b`)
	// A reply's data: 12b data "SECRETMA"...
	fuseData = regexp.MustCompile(`(\d+b data) "(?:[^"\\]|\\.)*"(?:\.\.\.)?`)
	// Any other quoted text.
	fuseQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"(?:\.\.\.)?`)
	// Request and reply lines: rx 36: WRITE …, tx 36: …
	fuseRequest = regexp.MustCompile(`\brx \d+: (\S*)`)
	fuseReply   = regexp.MustCompile(`\btx \d+:`)
)

// fuseNamed are the requests whose quoted text is a file name, which
// the log keeps.
var fuseNamed = map[string]bool{
	"LOOKUP": true, "MKDIR": true, "MKNOD": true, "CREATE": true, "UNLINK": true, "RMDIR": true,
	"RENAME": true, "RENAME2": true, "LINK": true, "SYMLINK": true, "TMPFILE": true,
}

// redactFUSE removes file contents from one go-fuse debug line: payload
// summaries of requests, data of replies, and, as a safety net should
// go-fuse change its format, every quoted text of a request or reply
// other than file names. Other lines (mount steps) pass as they are.
func redactFUSE(line string) string {
	m := fuseRequest.FindStringSubmatch(line)
	if m == nil && !fuseReply.MatchString(line) {
		return line
	}
	line = fusePayload.ReplaceAllString(line, "[$1 bytes]")
	line = fuseData.ReplaceAllString(line, "$1")
	if m == nil || !fuseNamed[m[1]] {
		line = fuseQuoted.ReplaceAllString(line, `"…"`)
	}
	return line
}
