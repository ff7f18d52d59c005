package swtpmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Bounds on the waits for a swtpm process.
const (
	startTimeout = 10 * time.Second // until both channels accept
	stopTimeout  = 10 * time.Second // after SIGTERM, and again after SIGKILL
)

// Options say what Start runs; the zero value is a fresh TPM 2.0 on TCP.
type Options struct {
	// TPM12 runs a TPM 1.2 instead of a TPM 2.0.
	TPM12 bool
	// Unix serves on Unix sockets in a temporary directory, not on TCP.
	Unix bool
	// From is a state directory to start from (see State12); the swtpm
	// works on a copy. Empty: the TPM is manufactured on first start.
	From string
}

// Swtpm is a running swtpm with its own state directory. Stop and Restart
// take it down and up again on the same address and state, as a TPM
// that loses power.
type Swtpm struct {
	Port  int    // TCP data port, control channel on Port+1; 0 for Unix
	Sock  string // Unix data socket; "" for TCP
	Ctrl  string // Unix control socket; "" for TCP
	State string // state directory, kept across Stop and Restart

	t      testing.TB
	tpm12  bool
	cmd    *exec.Cmd
	exited chan struct{}
	log    string // file of swtpm's output, shown when the test fails
}

// Start runs a fresh TPM 2.0 swtpm on TCP; see StartWith.
func Start(t testing.TB) *Swtpm {
	t.Helper()
	return StartWith(t, Options{})
}

// Start12 runs a TPM 1.2 swtpm on a copy of a manufactured state, owned
// or not (see State12). The package's TestMain must call RunMain.
func Start12(t testing.TB, owned bool) *Swtpm {
	t.Helper()
	return StartWith(t, Options{TPM12: true, From: State12(t, owned)})
}

// StartWith runs swtpm as o says (see Launch) in the test's temporary
// directory. It is stopped by its pid when the test ends. A missing
// swtpm skips the test (see Require).
func StartWith(t testing.TB, o Options) *Swtpm {
	t.Helper()
	Require(t, "swtpm")
	s, err := Launch(o, t.TempDir())
	if err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	s.t = t
	t.Cleanup(func() {
		s.Stop()
		if out := s.Output(); t.Failed() && out != "" {
			t.Logf("swtpm output:\n%s", out)
		}
	})
	return s
}

// Launch runs swtpm as o says, with startup-clear (it needs no TPM_Init
// and is started), its state, output and sockets in dir, and returns once
// both of its channels accept connections. It needs no testing.TB, for
// programs (tpmfs-bench); the caller must Stop it.
func Launch(o Options, dir string) (*Swtpm, error) {
	s := &Swtpm{State: filepath.Join(dir, "state"), tpm12: o.TPM12, log: filepath.Join(dir, "swtpm.log")}
	if err := os.Mkdir(s.State, 0o700); err != nil {
		return nil, err
	}
	if o.From != "" {
		if err := copyFiles(o.From, s.State); err != nil {
			return nil, err
		}
	}
	if o.Unix {
		s.Sock, s.Ctrl = filepath.Join(dir, "sock"), filepath.Join(dir, "ctrl")
		if err := s.run(true); err != nil {
			return nil, err
		}
		return s, nil
	}
	// A pair found free may be taken before swtpm binds it; swtpm then
	// exits and another pair is tried.
	var err error
	for range 5 {
		if s.Port, err = FindPortPair(); err != nil {
			return nil, err
		}
		if err = s.run(true); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// Source is the tpmfs SOURCE (and tddl/source string) for s.
func (s *Swtpm) Source() string {
	if s.Sock != "" {
		return "swtpm:path=" + s.Sock
	}
	return "swtpm:host=127.0.0.1,port=" + strconv.Itoa(s.Port)
}

// TCTI is tpm2-tools' -T argument for s; only TCP instances have one.
func (s *Swtpm) TCTI() string {
	if s.Sock != "" {
		return ""
	}
	return "swtpm:host=127.0.0.1,port=" + strconv.Itoa(s.Port)
}

// Stop ends swtpm by its pid, with SIGTERM and then, if it lingers,
// SIGKILL, and waits for it. It is safe to call when stopped. A swtpm
// that does not exit fails the test that started it.
func (s *Swtpm) Stop() error {
	if s.cmd == nil {
		return nil
	}
	err := EndProcess(s.cmd.Process, s.exited, stopTimeout)
	if err != nil && s.t != nil {
		s.t.Errorf("swtpm: %v", err)
	}
	s.cmd = nil
	return err
}

// EndProcess ends a process the caller started: SIGTERM, then SIGKILL if
// it lingers past grace. exited must close once the process is reaped;
// the error says it did not, grace after the SIGKILL.
func EndProcess(p *os.Process, exited <-chan struct{}, grace time.Duration) error {
	p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
	}
	p.Kill()
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
		return fmt.Errorf("pid %d did not exit", p.Pid)
	}
}

// Restart starts a stopped swtpm again on its address and state.
func (s *Swtpm) Restart(t testing.TB) {
	t.Helper()
	s.restart(t, true)
}

// RestartWithoutStartup is Restart without startup-clear, as after a
// power cycle: the TPM refuses every command until it gets a Startup.
func (s *Swtpm) RestartWithoutStartup(t testing.TB) {
	t.Helper()
	s.restart(t, false)
}

func (s *Swtpm) restart(t testing.TB, startup bool) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("restart of a running swtpm")
	}
	if err := s.run(startup); err != nil {
		t.Fatalf("restart swtpm: %v", err)
	}
}

// run starts the process and waits until it serves, or kills it.
func (s *Swtpm) run(startup bool) error {
	flags := "not-need-init"
	if startup {
		flags += ",startup-clear"
	}
	args := []string{"socket", "--tpmstate", "dir=" + s.State, "--flags", flags}
	if !s.tpm12 {
		args = append(args, "--tpm2")
	}
	network, data, ctrl := "unix", s.Sock, s.Ctrl
	if s.Sock != "" {
		args = append(args, "--server", "type=unixio,path="+s.Sock, "--ctrl", "type=unixio,path="+s.Ctrl)
	} else {
		args = append(args,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.Port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.Port+1))
		network = "tcp"
		data, ctrl = "127.0.0.1:"+strconv.Itoa(s.Port), "127.0.0.1:"+strconv.Itoa(s.Port+1)
	}
	log, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command("swtpm", args...)
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Start()
	log.Close() // swtpm has its own descriptor
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// Both channels: which one swtpm binds last is its own business. A
	// probe of the one-client data channel is closed at once.
	err = WaitListening(network, ctrl, exited, startTimeout)
	if err == nil {
		err = WaitListening(network, data, exited, startTimeout)
	}
	if err != nil {
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("swtpm %v: %w\n%s", args, err, s.Output())
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

// copyFiles copies the regular files of dir from into dir to.
func copyFiles(from, to string) error {
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Output is what swtpm has written so far, in all its runs.
func (s *Swtpm) Output() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}
