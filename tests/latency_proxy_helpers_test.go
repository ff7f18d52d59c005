package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// latencyProxy is contrib/tpm-latency-proxy in front of a swtpm: an
// implementation of the latency model independent of tpmfs's own, whose
// log of every command checks what tpmfs sends.
type latencyProxy struct {
	port int
	log  string
	cmd  *exec.Cmd
}

// proxyCommand is one line of the proxy's log.
type proxyCommand struct {
	code     uint32
	variant  string
	rc       uint32
	modelled float64 // ms
}

func (c proxyCommand) String() string {
	name := map[uint32]string{0x157: "Load", 0x176: "StartAuthSession", 0x17F: "PolicyPCR", 0x15E: "Unseal",
		0x165: "FlushContext", 0x17E: "PCR_Read", 0x153: "Create", 0x131: "CreatePrimary", 0x173: "ReadPublic",
		0x17A: "GetCapability", 0x162: "ContextSave", 0x161: "ContextLoad"}[c.code]
	if name == "" {
		name = fmt.Sprintf("0x%x", c.code)
	}
	if c.rc != 0 {
		return name + "(failed)"
	}
	if c.variant != "*" {
		return name + "(" + c.variant + ")"
	}
	return name
}

func startLatencyProxy(t *testing.T, tpm *swtpmtest.Swtpm, profile string) *latencyProxy {
	t.Helper()
	require(t, "python3")
	port, err := swtpmtest.FindPortPair()
	if err != nil {
		t.Fatal(err)
	}
	p := &latencyProxy{port: port, log: filepath.Join(t.TempDir(), "commands")}
	p.cmd = exec.Command("python3", "../contrib/tpm-latency-proxy", "--listen", strconv.Itoa(port),
		"--swtpm", "127.0.0.1:"+strconv.Itoa(tpm.Port), "--profile", profile, "--log", p.log)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-exited
	})
	if err := swtpmtest.WaitListening("tcp", "127.0.0.1:"+strconv.Itoa(port), exited, 30*time.Second); err != nil {
		t.Fatalf("latency proxy: %v", err)
	}
	return p
}

func (p *latencyProxy) Source() string { return "swtpm:host=127.0.0.1,port=" + strconv.Itoa(p.port) }

// commands returns every command logged so far.
func (p *latencyProxy) commands(t *testing.T) []proxyCommand {
	t.Helper()
	f, err := os.Open(p.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []proxyCommand
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 6 {
			t.Fatalf("proxy log line %q", sc.Text())
		}
		code, _ := strconv.ParseUint(fs[1], 0, 32)
		rc, _ := strconv.ParseUint(fs[3], 0, 32)
		ms, _ := strconv.ParseFloat(fs[4], 64)
		cmds = append(cmds, proxyCommand{code: uint32(code), variant: fs[2], rc: uint32(rc), modelled: ms})
	}
	return cmds
}

// during returns the commands op sent, and their modelled milliseconds.
// The proxy logs a command before it answers it, so everything op
// caused is in the log when op returns.
func (p *latencyProxy) during(t *testing.T, op func()) ([]proxyCommand, float64) {
	t.Helper()
	before := len(p.commands(t))
	op()
	cmds := p.commands(t)[before:]
	ms := 0.0
	for _, c := range cmds {
		ms += c.modelled
	}
	return cmds, ms
}

func listOf(cmds []proxyCommand) string {
	var s []string
	for _, c := range cmds {
		s = append(s, c.String())
	}
	return strings.Join(s, " ")
}
