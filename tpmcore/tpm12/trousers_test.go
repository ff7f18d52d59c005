package tpm12

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
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

// tcsd is a running TrouSerS daemon and the environment its clients need.
type tcsd struct {
	env []string
}

// startTcsd runs tcsd in the foreground on a free port with its own
// config and system PS file, its TPM being m (tcsd -e: TCP "device").
func startTcsd(t *testing.T, m *mux) *tcsd {
	t.Helper()
	swtpmtest.Require(t, "tcsd")
	tss, errU := user.Lookup("tss")
	grp, errG := user.LookupGroup("tss")
	if os.Geteuid() != 0 || errU != nil || errG != nil {
		swtpmtest.SkipOrFail(t, "tcsd needs root and the tss user and group")
	}
	uid, _ := strconv.Atoi(tss.Uid)
	gid, _ := strconv.Atoi(grp.Gid)

	dev, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	go m.serve(dev)

	dir := t.TempDir()
	// tcsd drops to user tss and keeps system.data here.
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	port := swtpmtest.FreePortPair(t)
	conf := filepath.Join(dir, "tcsd.conf")
	body := fmt.Sprintf("port = %d\nsystem_ps_file = %s\n", port, filepath.Join(dir, "system.data"))
	if err := os.WriteFile(conf, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	// tcsd insists on root:tss and mode 0640 for its config.
	if err := os.Chown(conf, 0, gid); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tcsd", "-f", "-e", "-c", conf)
	cmd.Env = append(os.Environ(),
		"TCSD_TCP_DEVICE_HOSTNAME=127.0.0.1",
		"TCSD_TCP_DEVICE_PORT="+strconv.Itoa(dev.Addr().(*net.TCPAddr).Port))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(startTimeout):
			t.Errorf("tcsd pid %d did not exit", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("tcsd log:\n%s", log.String())
		}
	})
	if err := swtpmtest.WaitListening("tcp", "127.0.0.1:"+strconv.Itoa(port), exited, startTimeout); err != nil {
		t.Fatalf("tcsd: %v\n%s", err, log.String())
	}
	return &tcsd{env: append(os.Environ(), "TSS_TCSD_HOSTNAME=127.0.0.1", "TSS_TCSD_PORT="+strconv.Itoa(port))}
}

// run runs a TrouSerS client tool against the daemon.
func (d *tcsd) run(t *testing.T, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	swtpmtest.Require(t, name)
	cmd := exec.Command(name, args...)
	cmd.Env = d.env
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.Bytes(), fmt.Errorf("%s %v: %w: %s", name, args, err, errb.String())
		}
		return out.Bytes(), nil
	case <-time.After(setupTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v: no answer in %v", name, args, setupTimeout)
		return nil, nil
	}
}

// versionFields reads tpm_version's "Name: value" lines.
func versionFields(out []byte) map[string]string {
	f := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}

// TestTrouSerS runs TrouSerS' tcsd on the same TPM as this package, the
// way a TSS shares it through tpmfs's tpmrm0: TrouSerS takes ownership
// with the well-known secrets, and both seal and unseal beside each other
// without disturbing the other.
func TestTrouSerS(t *testing.T) {
	m := &mux{tr: startSwtpm12(t, unowned)}
	d := startTcsd(t, m)

	out, err := d.run(t, nil, "tpm_version")
	if err != nil {
		t.Fatal(err)
	}
	ver := versionFields(out)
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

	if _, err := d.run(t, nil, "tpm_takeownership", "-y", "-z"); err != nil {
		t.Fatal(err)
	}
	if owned, err := Owned(m); err != nil || !owned {
		t.Fatalf("Owned after tpm_takeownership = %v, %v", owned, err)
	}

	// TrouSerS seals to PCR 16; this package seals beside it.
	secret := []byte("sealed by TrouSerS\n")
	blobTSS, err := d.run(t, secret, "tpm_sealdata", "-z", "-p", "16")
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
	if got, err := d.run(t, nil, "tpm_unsealdata", "-z", "-i", f); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("tpm_unsealdata = %q, %v", got, err)
	}

	// PCR 16 moves: both refuse.
	if _, err := Measure(m, 16, []byte("change")); err != nil {
		t.Fatal(err)
	}
	if _, err := UnsealKey(m, WellKnownAuth, s.Blob); !errors.Is(err, ErrPolicy) {
		t.Fatalf("UnsealKey after extend = %v, want ErrPolicy", err)
	}
	if got, err := d.run(t, nil, "tpm_unsealdata", "-z", "-i", f); err == nil {
		t.Fatalf("tpm_unsealdata after extend succeeded: %q", got)
	}
}
