package tpm12

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// Bounds on the waits for tcsd and TrouSerS' tools.
const (
	startTimeout = 10 * time.Second
	setupTimeout = 60 * time.Second
)

// owned and unowned name the TPM 1.2 states tests start from: with an
// owner whose owner and SRK secrets are the well-known ones, or as from
// the factory (see swtpmtest.State12).
const (
	owned   = true
	unowned = false
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.RunMain(m)) }

// startSwtpm12 starts a TPM 1.2 swtpm on a copy of an owned or unowned
// state and returns a transport to it; it is stopped when the test ends.
func startSwtpm12(t *testing.T, withOwner bool) *tcpTPM {
	t.Helper()
	return &tcpTPM{sw: swtpmtest.Start12(t, withOwner)}
}

// tcpTPM is a transport.TPM on swtpm's data channel that records what it
// sends. It connects for each command, as tcsd -e does, so that another
// client (tcsd) can take turns on the one-client socket.
type tcpTPM struct {
	sw      *swtpmtest.Swtpm
	sent    []uint32 // ordinals of the commands sent, in order
	last    []byte   // the last response
	lastCmd []byte   // the last command
}

func (c *tcpTPM) Send(cmd []byte) ([]byte, error) {
	conn, err := c.sw.Connect()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rsp, err := conn.Send(cmd)
	if err != nil {
		return nil, err
	}
	if len(cmd) >= 10 {
		c.sent = append(c.sent, binary.BigEndian.Uint32(cmd[6:]))
	}
	c.last, c.lastCmd = rsp, append([]byte(nil), cmd...)
	return rsp, nil
}
