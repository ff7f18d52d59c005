package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// tcsd is TrouSerS' daemon running on a mount's tpmrm0, which a private
// mount namespace shows it as /dev/tpm0.
type tcsd struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedWriter
	env  []string
}

// startTcsd runs tcsd on m's tpmrm0 and waits until it listens. Register
// it after the mount: cleanups run last-first, so tcsd stops (by pid)
// before tpmfs is unmounted.
func startTcsd(t *testing.T, m *mount) *tcsd {
	t.Helper()
	require(t, "tcsd", "unshare")
	tss, errU := user.Lookup("tss")
	grp, errG := user.LookupGroup("tss")
	if errU != nil || errG != nil {
		swtpmtest.SkipOrFail(t, "tcsd needs the tss user and group: %v %v", errU, errG)
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
	port := swtpmtest.FreePortPair(t)
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
	// unshare execs sh, which execs tcsd: the pid started is tcsd's.
	d := &tcsd{done: make(chan struct{}), log: &lockedWriter{}}
	d.cmd = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o mode=0755,size=64k tpmfs-dev /dev && touch /dev/tpm0 &&
		mount --bind "$1" /dev/tpm0 && exec tcsd -f -c "$2"`,
		"sh", m.Path("tpmrm0"), conf)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("tcsd log:\n%s", d.log.String())
		}
	})
	if err := swtpmtest.WaitListening("tcp", "127.0.0.1:"+strconv.Itoa(port), d.done, 10*time.Second); err != nil {
		t.Fatalf("tcsd: %v\n%s", err, d.log.String())
	}
	d.env = append(os.Environ(), "TSS_TCSD_HOSTNAME=127.0.0.1", "TSS_TCSD_PORT="+strconv.Itoa(port))
	return d
}

// stop ends tcsd by its pid and waits for it; safe to call twice.
func (d *tcsd) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Errorf("tcsd pid %d did not exit", d.cmd.Process.Pid)
	}
}

// run runs a TrouSerS tool against the daemon, with stdin, bounded in
// time, and returns its stdout; stderr goes into the error.
func (d *tcsd) run(stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.env
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}

// mustRun is run failing the test on error.
func (d *tcsd) mustRun(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := d.run(stdin, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rawPCRRead reads a PCR through tpmrm0 with a TPM_PCRRead built here
// (tag RQU_COMMAND, size 14, ordinal 0x15, index), independently of
// tpmfs's PCR code.
func rawPCRRead(t *testing.T, tpmrm0 string, idx int) []byte {
	t.Helper()
	f, err := os.OpenFile(tpmrm0, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := []byte{0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15}
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(idx))
	if _, err := f.Write(cmd); err != nil {
		t.Fatal(err)
	}
	rsp, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		t.Fatal(err)
	}
	// TPM_TAG_RSP_COMMAND, size 30, TPM_SUCCESS, 20 bytes of value.
	if len(rsp) != 30 || binary.BigEndian.Uint16(rsp) != 0xC4 || binary.BigEndian.Uint32(rsp[6:]) != 0 {
		t.Fatalf("TPM_PCRRead(%d) through tpmrm0: %x", idx, rsp)
	}
	return rsp[10:]
}

// versionFields reads tpm_version's "Name: value" lines.
func versionFields(out []byte) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}
