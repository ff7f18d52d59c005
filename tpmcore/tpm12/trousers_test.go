package tpm12

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
	"tpmfs/internal/tpmwire"
)

// mux shares one TPM between tcsd and the test, one command at a time, as
// tpmcore's queue will: tcsd -e keeps its connection to the TPM open until
// its next command, so it cannot take turns on swtpm's one-client socket
// directly.
type mux struct {
	mu sync.Mutex
	tr *tcpTPM
}

func (m *mux) Send(cmd []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tr.Send(cmd)
}

// serve forwards whole commands from tcsd's connections until l closes.
func (m *mux) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				c.SetDeadline(time.Now().Add(time.Minute))
				cmd, err := tpmwire.ReadFrame(c, tpmwire.MaxSize)
				if err != nil {
					return
				}
				rsp, err := m.Send(cmd)
				if err != nil {
					return
				}
				if _, err := c.Write(rsp); err != nil {
					return
				}
			}
		}()
	}
}

// startTcsd runs tcsd with m as its TPM (tcsd -e: a TCP "device" that
// m serves).
func startTcsd(t *testing.T, m *mux) *swtpmtest.Tcsd {
	t.Helper()
	dev, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	go m.serve(dev)
	d := swtpmtest.StartTcsd(t, swtpmtest.TcsdOptions{TCPDevice: dev.Addr().String()})
	swtpmtest.Require(t, "tpm_version", "tpm_takeownership", "tpm_sealdata", "tpm_unsealdata")
	return d
}

// TestTrouSerS runs TrouSerS' tcsd on the same TPM as this package, the
// way a TSS shares it through tpmfs's tpmrm0: TrouSerS takes ownership
// with the well-known secrets, and both seal and unseal beside each other
// without disturbing the other.
func TestTrouSerS(t *testing.T) {
	m := &mux{tr: startSwtpm12(t, unowned)}
	d := startTcsd(t, m)

	out, err := d.Run(nil, "tpm_version")
	if err != nil {
		t.Fatal(err)
	}
	ver := swtpmtest.Fields(out)
	info, err := GetInfo(m)
	if err != nil {
		t.Fatal(err)
	}
	if info.ChipVersion != ver["Chip Version"] || strconv.Itoa(int(info.SpecLevel)) != ver["Spec Level"] ||
		strconv.Itoa(int(info.ErrataRev)) != ver["Errata Revision"] ||
		info.Manufacturer != strings.TrimRight(ver["TPM Vendor ID"], "\x00 ") ||
		fmt.Sprintf("%08x", info.ManufacturerID) != ver["Manufacturer Info"] {
		t.Errorf("GetInfo = %+v, tpm_version says %q", info, ver)
	}
	if info.Owned || info.NumPCRs != MaxPCRs || info.Disabled || info.Deactivated {
		t.Errorf("GetInfo on a fresh TPM = %+v, want unowned, enabled, active, %d PCRs", info, MaxPCRs)
	}
	if _, err := SealKey(m, WellKnownAuth, nil, []byte("k")); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("SealKey before ownership = %v, want ErrNotOwned", err)
	}

	if _, err := d.Run(nil, "tpm_takeownership", "-y", "-z"); err != nil {
		t.Fatal(err)
	}
	if owned, err := Owned(m); err != nil || !owned {
		t.Fatalf("Owned after tpm_takeownership = %v, %v", owned, err)
	}

	// TrouSerS seals to PCR 16; this package seals beside it.
	secret := []byte("sealed by TrouSerS\n")
	blobTSS, err := d.Run(secret, "tpm_sealdata", "-z", "-p", "16")
	if err != nil {
		t.Fatal(err)
	}
	before := [][]uint32{rawHandles(t, m.tr, 1), rawHandles(t, m.tr, 2)}
	key := []byte("sealed by tpm12")
	s, err := SealKey(m, WellKnownAuth, []int{16}, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnsealKey(m, WellKnownAuth, s.Blob); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("UnsealKey = %q, %v", got, err)
	}
	after := [][]uint32{rawHandles(t, m.tr, 1), rawHandles(t, m.tr, 2)}
	if !slices.Equal(before[0], after[0]) || !slices.Equal(before[1], after[1]) {
		t.Errorf("handles (keys, sessions) before %x, after %x", before, after)
	}
	f := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(f, blobTSS, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Run(nil, "tpm_unsealdata", "-z", "-i", f); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("tpm_unsealdata = %q, %v", got, err)
	}

	// PCR 16 moves: both refuse.
	if _, err := Measure(m, 16, []byte("change")); err != nil {
		t.Fatal(err)
	}
	if _, err := UnsealKey(m, WellKnownAuth, s.Blob); !errors.Is(err, ErrPolicy) {
		t.Fatalf("UnsealKey after extend = %v, want ErrPolicy", err)
	}
	if got, err := d.Run(nil, "tpm_unsealdata", "-z", "-i", f); err == nil {
		t.Fatalf("tpm_unsealdata after extend succeeded: %q", got)
	}
}
