package swtpmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds on tcsd and the TrouSerS tools run against it.
const (
	tcsdStartTimeout = 10 * time.Second
	tcsdToolTimeout  = 30 * time.Second
)

// TcsdOptions say where tcsd finds its TPM: set one of them.
type TcsdOptions struct {
	// Device is a character device file to show tcsd as /dev/tpm0 (a
	// tpmfs mount's tpmrm0): tcsd runs in a private mount namespace,
	// with a tmpfs on /dev and Device bind-mounted on /dev/tpm0.
	Device string
	// TCPDevice is a host:port serving whole TPM commands, which tcsd
	// -e uses as its TPM (TrouSerS' TCSD_TCP_DEVICE_HOSTNAME/PORT).
	TCPDevice string
}

// Tcsd is TrouSerS' daemon, running in the foreground on a free port
// with its own configuration and system PS file.
type Tcsd struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *SyncBuffer
	// Env is the environment TrouSerS' tools need to reach it.
	Env []string
}

// StartTcsd runs tcsd as o says and waits until it listens. It needs
// root and the tss user and group (Debian's trousers package makes
// them); without them the test skips, or fails under
// TPMFS_TEST_REQUIRE=1. tcsd is stopped by its pid when the test ends:
// start it after what it uses (a mount), since cleanups run last-first.
func StartTcsd(t testing.TB, o TcsdOptions) *Tcsd {
	t.Helper()
	Require(t, "tcsd")
	if o.Device != "" {
		Require(t, "unshare")
	}
	tss, errU := user.Lookup("tss")
	grp, errG := user.LookupGroup("tss")
	if os.Geteuid() != 0 || errU != nil || errG != nil {
		SkipOrFail(t, "tcsd needs root and the tss user and group: %v %v", errU, errG)
	}
	uid, _ := strconv.Atoi(tss.Uid)
	gid, _ := strconv.Atoi(grp.Gid)

	dir := t.TempDir()
	ps := filepath.Join(dir, "ps")
	if err := os.Mkdir(ps, 0o700); err != nil {
		t.Fatal(err)
	}
	// tcsd drops to tss and keeps its system.data there.
	if err := os.Chown(ps, uid, gid); err != nil {
		t.Fatal(err)
	}
	port := FreePortPair(t)
	conf := filepath.Join(dir, "tcsd.conf")
	body := fmt.Sprintf("port = %d\nsystem_ps_file = %s\n", port, filepath.Join(ps, "system.data"))
	if err := os.WriteFile(conf, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	// Debian's tcsd refuses a config not owned by root:tss with mode 0640.
	if err := os.Chown(conf, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o640); err != nil {
		t.Fatal(err)
	}

	d := &Tcsd{done: make(chan struct{}), log: &SyncBuffer{}}
	switch {
	case o.Device != "":
		// unshare execs sh, which execs tcsd: the pid started is tcsd's.
		d.cmd = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
			`mount -t tmpfs -o mode=0755,size=64k tpmfs-dev /dev && touch /dev/tpm0 &&
			mount --bind "$1" /dev/tpm0 && exec tcsd -f -c "$2"`,
			"sh", o.Device, conf)
	case o.TCPDevice != "":
		host, dport, ok := strings.Cut(o.TCPDevice, ":")
		if !ok {
			t.Fatalf("StartTcsd: TCPDevice %q is not host:port", o.TCPDevice)
		}
		d.cmd = exec.Command("tcsd", "-f", "-e", "-c", conf)
		d.cmd.Env = append(os.Environ(), "TCSD_TCP_DEVICE_HOSTNAME="+host, "TCSD_TCP_DEVICE_PORT="+dport)
	default:
		t.Fatal("StartTcsd: no Device or TCPDevice")
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.Stop(t)
		if t.Failed() {
			t.Logf("tcsd log:\n%s", d.log.String())
		}
	})
	if err := WaitListening("tcp", "127.0.0.1:"+strconv.Itoa(port), d.done, tcsdStartTimeout); err != nil {
		t.Fatalf("tcsd: %v\n%s", err, d.log.String())
	}
	d.Env = append(os.Environ(), "TSS_TCSD_HOSTNAME=127.0.0.1", "TSS_TCSD_PORT="+strconv.Itoa(port))
	return d
}

// Stop ends tcsd by its pid and waits for it; it is safe to call twice.
func (d *Tcsd) Stop(t testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	if err := EndProcess(d.cmd.Process, d.done, stopTimeout); err != nil {
		t.Errorf("tcsd: %v", err)
	}
}

// Run runs a TrouSerS tool against the daemon with stdin, bounded in
// time, and returns its stdout; its stderr goes into the error.
func (d *Tcsd) Run(stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tcsdToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.Env
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}

// MustRun is Run failing the test on error.
func (d *Tcsd) MustRun(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := d.Run(stdin, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Fields reads "Name: value" lines, as tpm_version prints them, into a
// map; lines without a colon are left out.
func Fields(out []byte) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}
