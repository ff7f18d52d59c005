package rm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/internal/tpmwire"
)

// Raw command builders, from the wire format of Part 1, section 18, for
// commands go-tpm would refuse to build.

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// rawCommand assembles tag, size, cc and body; the size is right.
func rawCommand(tag uint16, cc uint32, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return bytes.Join([][]byte{be16(tag), be32(uint32(tpmwire.HeaderSize + len(b))), be32(cc), b}, nil)
}

// rawAuth is a TPMS_AUTH_COMMAND with empty nonce and hmac.
func rawAuth(h uint32, attrs byte) []byte {
	return bytes.Join([][]byte{be32(h), be16(0), {attrs}, be16(0)}, nil)
}

// authArea prefixes entries with their total size.
func authArea(entries ...[]byte) []byte {
	b := bytes.Join(entries, nil)
	return append(be32(uint32(len(b))), b...)
}

func getRandomCommand(n uint16) []byte {
	return rawCommand(0x8001, 0x17B, be16(n))
}

// The command codes the parser tests use, with their Part 3 attributes.
var testAttrs = map[uint32]cmdAttr{
	0x17B:      {},                          // GetRandom
	0x173:      {handles: 1},                // ReadPublic
	0x15E:      {handles: 1},                // Unseal
	0x153:      {handles: 1},                // Create
	0x165:      {},                          // FlushContext
	0x176:      {handles: 2, rHandle: true}, // StartAuthSession
	0x184:      {handles: 3},                // NV_Certify
	0x13E:      {handles: 1, flushed: true}, // SequenceComplete
	0x20000001: {handles: 1},                // a vendor command
}

// captured returns the bytes go-tpm builds for a typed command, without
// sending them anywhere.
type captured struct{ cmd []byte }

var errCaptured = errors.New("captured")

func (c *captured) Send(cmd []byte) ([]byte, error) {
	c.cmd = bytes.Clone(cmd)
	return nil, errCaptured
}

func capture[R any](t *testing.T, exec func(*captured) (R, error)) []byte {
	t.Helper()
	var c captured
	if _, err := exec(&c); !errors.Is(err, errCaptured) {
		t.Fatalf("building command: %v", err)
	}
	return c.cmd
}

func TestParseCommandFromGoTPM(t *testing.T) {
	unseal := capture(t, func(c *captured) (*tpm2.UnsealResponse, error) {
		return tpm2.Unseal{ItemHandle: tpm2.NamedHandle{Handle: 0x80FF0003, Name: tpm2.TPM2BName{Buffer: []byte{0, 4, 1}}}}.Execute(c)
	})
	c, rc := parseCommand(unseal, testAttrs)
	if rc != tpm2.TPMRCSuccess {
		t.Fatalf("Unseal: rc %v", rc)
	}
	if h := binary.BigEndian.Uint32(unseal[handleOff(0):]); c.attr.handles != 1 || h != 0x80FF0003 {
		t.Errorf("Unseal handle area: %d handles, first 0x%08x", c.attr.handles, h)
	}
	if len(c.sessions) != 1 || c.sessions[0].handle != uint32(tpm2.TPMRSPW) {
		t.Fatalf("Unseal sessions: %+v, want one password session", c.sessions)
	}
	if got := binary.BigEndian.Uint32(unseal[c.sessions[0].off:]); got != uint32(tpm2.TPMRSPW) {
		t.Errorf("session offset points at 0x%08x", got)
	}
	if c.paramOff != len(unseal) {
		t.Errorf("Unseal has no parameters, but they start at %d of %d", c.paramOff, len(unseal))
	}

	flush := capture(t, func(c *captured) (*tpm2.FlushContextResponse, error) {
		return tpm2.FlushContext{FlushHandle: tpm2.TPMHandle(0x80FF0001)}.Execute(c)
	})
	c, rc = parseCommand(flush, testAttrs)
	if rc != tpm2.TPMRCSuccess || c.paramOff != tpmwire.HeaderSize || len(c.sessions) != 0 {
		t.Fatalf("FlushContext: rc %v, params at %d, %d sessions", rc, c.paramOff, len(c.sessions))
	}
	if h := binary.BigEndian.Uint32(flush[c.paramOff:]); h != 0x80FF0001 {
		t.Errorf("FlushContext parameter 0x%08x", h)
	}

	random := capture(t, func(c *captured) (*tpm2.GetRandomResponse, error) {
		return tpm2.GetRandom{BytesRequested: 5}.Execute(c)
	})
	c, rc = parseCommand(random, testAttrs)
	if rc != tpm2.TPMRCSuccess || c.paramOff != tpmwire.HeaderSize || c.cc != 0x17B {
		t.Fatalf("GetRandom: rc %v, cc 0x%x, params at %d", rc, c.cc, c.paramOff)
	}
}

func TestParseCommandSessions(t *testing.T) {
	three := rawCommand(0x8002, 0x15E, be32(0x80FF0000),
		authArea(rawAuth(0x02000001, 1), rawAuth(0x03000002, 0), rawAuth(0x40000009, 1)))
	c, rc := parseCommand(three, testAttrs)
	if rc != tpm2.TPMRCSuccess {
		t.Fatalf("three sessions: rc %v", rc)
	}
	want := []authEntry{
		{off: 18, handle: 0x02000001, attrs: 1},
		{off: 27, handle: 0x03000002, attrs: 0},
		{off: 36, handle: 0x40000009, attrs: 1},
	}
	if len(c.sessions) != len(want) {
		t.Fatalf("sessions %+v, want %+v", c.sessions, want)
	}
	for i := range want {
		if c.sessions[i] != want[i] {
			t.Errorf("session %d: %+v, want %+v", i, c.sessions[i], want[i])
		}
	}
	if c.paramOff != len(three) {
		t.Errorf("params at %d, want %d", c.paramOff, len(three))
	}
}

func TestParseCommandRejects(t *testing.T) {
	const (
		commandSize = 0x142
		commandCode = 0x143
		authSize    = 0x144
		badTag      = 0x01E
	)
	long := rawCommand(0x8001, 0x17B, make([]byte, tpmwire.MaxSize-tpmwire.HeaderSize+1))
	cases := []struct {
		name string
		cmd  []byte
		rc   tpm2.TPMRC
	}{
		{"empty", nil, commandSize},
		{"short header", []byte{0x80, 0x01, 0, 0, 0, 9, 0, 0, 1}, commandSize},
		{"size field too big", append(be16(0x8001), append(be32(14), be32(0x17B)...)...), commandSize},
		{"size field too small", append(getRandomCommand(1), 0), commandSize},
		{"over 4096 bytes", long, commandSize},
		{"TPM 1.2 tag", rawCommand(0x00C1, 0x17B, be16(1)), badTag},
		{"unknown command", rawCommand(0x8001, 0x1234), commandCode},
		{"unknown vendor command", rawCommand(0x8001, 0x20000002), commandCode},
		{"handle area cut", rawCommand(0x8001, 0x173, []byte{0x80, 0xFF}), commandSize},
		{"three handles cut", rawCommand(0x8001, 0x184, be32(1), be32(2)), commandSize},
		{"no authorization size", rawCommand(0x8002, 0x15E, be32(0x80FF0000)), authSize},
		{"authorization size zero", rawCommand(0x8002, 0x15E, be32(0x80FF0000), be32(0)), authSize},
		{"authorization size past end", rawCommand(0x8002, 0x15E, be32(0x80FF0000), be32(10), rawAuth(0x40000009, 1)), authSize},
		{"authorization entry cut", rawCommand(0x8002, 0x15E, be32(0x80FF0000), be32(6), be32(0x40000009), be16(0)), authSize},
		{"nonce past entry", rawCommand(0x8002, 0x15E, be32(0x80FF0000), be32(9), be32(0x40000009), be16(7), []byte{1}, be16(0)), authSize},
		{"four sessions", rawCommand(0x8002, 0x15E, be32(0x80FF0000), authArea(rawAuth(0x40000009, 1), rawAuth(0x40000009, 1), rawAuth(0x40000009, 1), rawAuth(0x40000009, 1))), authSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, rc := parseCommand(tc.cmd, testAttrs); rc != tc.rc {
				t.Errorf("rc 0x%x, want 0x%x", uint32(rc), uint32(tc.rc))
			}
		})
	}
}

// FuzzParseCommand: the parser never panics, never reads past the command
// (the fuzzer's slice has no spare capacity) and, when it accepts a
// command, everything it located lies inside it, in order.
func FuzzParseCommand(f *testing.F) {
	f.Add(getRandomCommand(8))
	f.Add(rawCommand(0x8002, 0x15E, be32(0x80FF0000), authArea(rawAuth(0x02000001, 1), rawAuth(0x40000009, 1))))
	f.Add(rawCommand(0x8001, 0x165, be32(0x80FF0000)))
	f.Add(rawCommand(0x8002, 0x184, be32(1), be32(2), be32(3), authArea(rawAuth(0x40000009, 0)), []byte{1, 2, 3}))
	f.Add(rawCommand(0x8001, 0x20000001, be32(7)))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = b[:len(b):len(b)]
		c, rc := parseCommand(b, testAttrs)
		if rc != tpm2.TPMRCSuccess {
			return
		}
		if len(b) < tpmwire.HeaderSize || len(b) > tpmwire.MaxSize || binary.BigEndian.Uint32(b[2:6]) != uint32(len(b)) {
			t.Fatalf("accepted a command whose size is wrong: %x", b)
		}
		if _, ok := testAttrs[c.cc]; !ok {
			t.Fatalf("accepted unknown command 0x%x", c.cc)
		}
		end := handleOff(c.attr.handles)
		if c.tag == tpm2.TPMSTSessions {
			if len(c.sessions) == 0 || len(c.sessions) > 3 {
				t.Fatalf("sessions tag with %d sessions", len(c.sessions))
			}
			end += 4
		} else if len(c.sessions) != 0 {
			t.Fatalf("sessions without the sessions tag")
		}
		for _, s := range c.sessions {
			if s.off < end || s.off+9 > c.paramOff {
				t.Fatalf("session at %d outside the authorization area [%d, %d)", s.off, end, c.paramOff)
			}
			if binary.BigEndian.Uint32(b[s.off:]) != s.handle {
				t.Fatalf("session handle at %d does not match", s.off)
			}
			end = s.off + 9
		}
		if c.paramOff < end || c.paramOff > len(b) {
			t.Fatalf("parameters at %d, outside [%d, %d]", c.paramOff, end, len(b))
		}
	})
}
