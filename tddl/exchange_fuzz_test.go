package tddl

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// FuzzExchange feeds arbitrary bytes to the swtpm response framing. The
// expectation is computed here from the raw header: a size field in
// [10, MaxCommandSize] with that many bytes available yields exactly those
// bytes; anything else is an error.
func FuzzExchange(f *testing.F) {
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0})
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 12, 0, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{0x80, 0x01, 0, 0, 0x10, 0x01, 0, 0, 0, 0})
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 9, 0, 0, 0, 0})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, peer []byte) {
		client, server := net.Pipe()
		defer client.Close()
		client.SetDeadline(time.Now().Add(10 * time.Second))
		cmd := []byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 0x7B}
		go func() {
			defer server.Close()
			server.Read(make([]byte, len(cmd)))
			server.Write(peer)
		}()
		rsp, err := exchange(client, cmd)

		want := -1 // expected response length, -1 for an error
		if len(peer) >= 10 {
			n := int(binary.BigEndian.Uint32(peer[2:6]))
			if n >= 10 && n <= MaxCommandSize && n <= len(peer) {
				want = n
			}
		}
		switch {
		case want < 0 && err == nil:
			t.Fatalf("peer sent %x: got %x, want an error", peer, rsp)
		case want >= 0 && (err != nil || !bytes.Equal(rsp, peer[:want])):
			t.Fatalf("peer sent %x: got %x, %v; want %x", peer, rsp, err, peer[:want])
		}
	})
}
