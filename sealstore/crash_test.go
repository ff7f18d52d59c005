package sealstore

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashEnv, when set to a state dir, turns the test binary into the crash
// helper: it saves two records alternately under one name until killed.
const crashEnv = "TPMFS_SEALSTORE_CRASH_DIR"

// The two versions differ in size (256 KiB against 1 KiB of ciphertext)
// so that any mix of them, or a short write, fails to decode or compare.
func crashRecords() [2]*Record {
	return [2]*Record{sealedRecord("secret", 256<<10, 20), sealedRecord("secret", 1<<10, 21)}
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashHelper(dir)
		return
	}
	os.Exit(m.Run())
}

func crashHelper(dir string) {
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	recs := crashRecords()
	for i := 0; ; i++ {
		if err := s.Save(recs[i%2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
}

// TestCrashDuringSave kills a process that keeps replacing one object,
// at random moments, and checks that the object always loads as one of
// the two versions it was writing.
func TestCrashDuringSave(t *testing.T) {
	const rounds = 8
	dir := t.TempDir()
	recs := crashRecords()
	seen := [2]int{}
	leftovers := 0
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		// os.Process knows when it was reaped, so this never hits a reused pid.
		t.Cleanup(func() { cmd.Process.Kill() })

		ready := make(chan error, 1)
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("helper said %q", line)
			}
			ready <- err
		}()
		select {
		case err := <-ready:
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: helper failed: %v; stderr: %s", round, err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper not ready after 20s; stderr: %s", round, stderr.String())
		}

		if round == 0 {
			// While the helper runs, the dir is locked, naming its pid.
			if s, err := Open(dir); err == nil {
				s.Close()
				t.Error("Open succeeded while the helper holds the dir")
			} else if !strings.Contains(err.Error(), "pid "+strconv.Itoa(pid)) {
				t.Errorf("lock error %q does not name the helper's pid %d", err, pid)
			}
		}

		time.Sleep(time.Duration(rand.IntN(30000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v, not by SIGKILL; stderr: %s", round, err, stderr.String())
		}
		leftovers += len(tempFiles(t, dir))

		// The kernel released the dead helper's lock.
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		got, err := s.Load("secret")
		if err != nil {
			s.Close()
			t.Fatalf("round %d: Load after kill: %v", round, err)
		}
		switch {
		case reflect.DeepEqual(got, recs[0]):
			seen[0]++
		case reflect.DeepEqual(got, recs[1]):
			seen[1]++
		default:
			t.Errorf("round %d: loaded a record that was never saved", round)
		}
		if names, err := s.List(); err != nil || !reflect.DeepEqual(names, []string{"secret"}) {
			t.Errorf("round %d: List = %v, %v", round, names, err)
		}
		if tmps := tempFiles(t, dir); len(tmps) != 0 {
			t.Errorf("round %d: Open left temp files %v", round, tmps)
		}
		s.Close()
	}
	t.Logf("%d kills: found the large version %d times, the small one %d times; %d kills left a temp file", rounds, seen[0], seen[1], leftovers)
}
