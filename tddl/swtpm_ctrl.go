package tddl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// cmdCancelTPMCmd is CMD_CANCEL_TPM_CMD of swtpm's control channel
// (swtpm_ioctls(3)): a big-endian uint32 code with no payload, answered
// by a big-endian uint32 TPM result code (ptm_res), 0 for success.
const cmdCancelTPMCmd = 0x09

// ctrlTimeout bounds a control-channel exchange. swtpm in socket mode runs
// TPM commands on its main loop, so it serves the control channel only
// between commands: a cancel may wait for the command it meant to cancel,
// and waiting long for that helps nobody.
const ctrlTimeout = 2 * time.Second

// Cancel asks swtpm, through its TCP control channel (data port + 1), to
// abort the command in progress. swtpm clears the request when the next
// command starts, so a late cancel does no harm. Over a Unix socket no
// control channel is known and Cancel returns errors.ErrUnsupported.
// Cancel may be called from another goroutine while Send runs.
func (s *swtpm) Cancel() error {
	if s.ctrlAddr == "" {
		return fmt.Errorf("cancel on swtpm %s: no control channel: %w", s.addr, errors.ErrUnsupported)
	}
	if s.isClosed() {
		return fmt.Errorf("cancel on swtpm %s: %w", s.addr, ErrClosed)
	}
	d := net.Dialer{Timeout: ctrlTimeout}
	c, err := d.DialContext(s.ctx, "tcp", s.ctrlAddr)
	if err != nil {
		return fmt.Errorf("cancel: dial swtpm control %s: %w: %w", s.ctrlAddr, ErrUnreachable, err)
	}
	defer c.Close()
	// Close unblocks a Cancel in progress too.
	defer context.AfterFunc(s.ctx, func() { c.Close() })()
	if err := c.SetDeadline(time.Now().Add(ctrlTimeout)); err != nil {
		return fmt.Errorf("cancel on swtpm control %s: %w", s.ctrlAddr, err)
	}
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], cmdCancelTPMCmd)
	if _, err := c.Write(buf[:]); err != nil {
		return fmt.Errorf("cancel on swtpm control %s: write: %w", s.ctrlAddr, err)
	}
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		return fmt.Errorf("cancel on swtpm control %s: read: %w", s.ctrlAddr, unexpectedEOF(err))
	}
	if rc := binary.BigEndian.Uint32(buf[:]); rc != 0 {
		return fmt.Errorf("cancel on swtpm control %s: result code 0x%x", s.ctrlAddr, rc)
	}
	return nil
}
