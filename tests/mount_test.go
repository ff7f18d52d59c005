package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMountCommand(t *testing.T) {
	requireMountHelper(t)
	require(t, "setpriv")
	for _, c := range []struct {
		name string
		argv func(dir, opts string) []string
	}{
		{"mount -t fuse./abs/path", func(dir, opts string) []string {
			return []string{"mount", "-t", "fuse." + tpmfsBin, "sim:", dir, "-o", opts}
		}},
		{"mount.fuse3 -t fuse.tpmfs", func(dir, opts string) []string {
			return []string{mountFuse3(), "sim:", dir, "-t", "fuse.tpmfs", "-o", "rw," + opts}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, state := mountDir(t), t.TempDir()
			argv := c.argv(dir, "allow_other,state="+state)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(tpmfsBin)+":"+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
			a := watchMount(t, dir, state)
			opts, typ, source, _ := mountFields(t, dir)
			if typ != "fuse.tpmfs" || source != "sim:" {
				t.Errorf("mountinfo: type %s source %s, want fuse.tpmfs sim:", typ, source)
			}
			// mount.fuse3 passes dev,suid; the mount stays nodev,nosuid.
			for _, o := range []string{"nosuid", "nodev"} {
				if !slices.Contains(strings.Split(opts, ","), o) {
					t.Errorf("mount options %s lack %s", opts, o)
				}
			}
			checkServes(t, dir)
			a.umount(t)
		})
	}
}

// fstabLine is one line of an fstab; the fields are split on blanks.
type fstabLine []string

// exampleFstab is contrib/fstab.example's entry.
func exampleFstab(t *testing.T) fstabLine {
	t.Helper()
	b, err := os.ReadFile("../contrib/fstab.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 6 && !strings.HasPrefix(f[0], "#") {
			return f
		}
	}
	t.Fatal("contrib/fstab.example has no fstab entry")
	return nil
}

// TestMountFstab mounts contrib/fstab.example's entry, and one with every
// option mount(8), mount.fuse3 and fstab writers add, with mount -T.
func TestMountFstab(t *testing.T) {
	requireMountHelper(t)
	require(t, "setpriv")
	tss := requireGroup(t, "tss")
	ex := exampleFstab(t)
	if ex[0] != "/dev/tpmrm0" || ex[1] != "/var/tpm" || ex[2] != "fuse.tpmfs" {
		t.Errorf("example entry %v: want /dev/tpmrm0 on /var/tpm, type fuse.tpmfs", ex)
	}
	compat := "rw,defaults,dev,suid,exec,nodev,nosuid,noexec,auto,noauto,nofail,_netdev,users,noatime,relatime,x-systemd.automount,x-systemd.device-timeout=10s,X-mount.mkdir,comment=tpmfs,allow_other"
	for _, c := range []struct {
		name, opts string
		check      func(t *testing.T, dir string)
	}{
		{"example", ex[3], func(t *testing.T, dir string) {
			// What the example's comment promises.
			if got, want := statAttr(t, dir+"/pcrs/16"), (attr{syscall.S_IFREG | 0o664, 0, tss}); got != want {
				t.Errorf("pcrs/16: %v, want %v", got, want)
			}
			if got, want := statAttr(t, dir+"/seal"), (attr{syscall.S_IFDIR | 0o1777, 0, tss}); got != want {
				t.Errorf("seal: %v, want %v", got, want)
			}
			nobody.must(t, "mkdir "+dir+"/seal/mine")
		}},
		{"compat", compat, func(t *testing.T, dir string) {
			opts, _, _, _ := mountFields(t, dir)
			for _, o := range []string{"nosuid", "nodev", "noexec"} {
				if !slices.Contains(strings.Split(opts, ","), o) {
					t.Errorf("mount options %s lack %s", opts, o)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A mount point that does not exist yet: X-mount.mkdir makes it.
			dir, state := filepath.Join(mountDir(t), "tpm"), t.TempDir()
			fstab := filepath.Join(t.TempDir(), "fstab")
			line := fmt.Sprintf("# test\nsim: %s fuse.%s %s,state=%s 0 0\n", dir, tpmfsBin, c.opts, state)
			if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := runErr("mount", "-T", fstab, dir); err != nil {
				t.Fatalf("mount -T %s %s: %v\n%s\n%s", fstab, dir, err, out, line)
			}
			a := watchMount(t, dir, state)
			checkServes(t, dir)
			c.check(t, dir)
			a.umount(t)
		})
	}
}

// TestMountFuseFD: mount.fuse3 -o drop_privileges mounts itself and runs
// tpmfs without capabilities on /dev/fd/N. tpmfs needs the kernel's
// permission checks, so it refuses such a mount without
// default_permissions.
func TestMountFuseFD(t *testing.T) {
	requireMountHelper(t)
	require(t, "setpriv")
	dir, state := mountDir(t), t.TempDir()
	out, err := runErr(mountFuse3(), tpmfsBin+"#sim:", dir, "-o", "drop_privileges,default_permissions,allow_other,nosuid,nodev,state="+state)
	if err != nil {
		t.Fatalf("mount.fuse3 drop_privileges: %v\n%s", err, out)
	}
	a := watchMount(t, dir, state)
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", a.pid))
	if !strings.Contains(string(cmdline), "/dev/fd/") {
		t.Errorf("tpmfs runs as %q, want a /dev/fd/N mount point", cmdline)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.pid)); err != nil || !strings.Contains(string(st), "CapEff:\t0000000000000000") {
		t.Errorf("tpmfs has capabilities under drop_privileges:\n%s", st)
	}
	checkServes(t, dir)
	a.umount(t)

	// Without default_permissions: refused, with the reason.
	dir, state = mountDir(t), t.TempDir()
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	out, err = runErr(mountFuse3(), tpmfsBin+"#sim:", dir, "-o", "drop_privileges,allow_other,state="+state)
	if err == nil || !strings.Contains(out, "default_permissions") {
		t.Errorf("mount.fuse3 drop_privileges without default_permissions: err %v, output %q; want a refusal naming default_permissions", err, out)
	}
	if pid := daemonOf(state); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("tpmfs pid %d serves a mount without default_permissions", pid)
	}
}

// TestMountBareEnvironment starts tpmfs as some init systems do: no PATH
// and fds 0-2 closed, daemonised and in the foreground.
func TestMountBareEnvironment(t *testing.T) {
	require(t, "setpriv")
	for _, fg := range []bool{false, true} {
		t.Run(fmt.Sprintf("foreground=%v", fg), func(t *testing.T) {
			dir, state := mountDir(t), t.TempDir()
			argv := []string{"tpmfs", "sim:", dir, "-o", "allow_other,state=" + state}
			if fg {
				argv = slices.Insert(argv, 1, "-f")
			}
			p, err := os.StartProcess(tpmfsBin, argv, &os.ProcAttr{Env: []string{"PATH="}, Files: []*os.File{nil, nil, nil}})
			if err != nil {
				t.Fatal(err)
			}
			exited := make(chan *os.ProcessState, 1)
			go func() { st, _ := p.Wait(); exited <- st }()
			t.Cleanup(func() {
				if isMounted(dir) {
					syscall.Unmount(dir, syscall.MNT_DETACH)
				}
				p.Kill() // by pid; nothing if it exited
			})
			if !fg {
				// The parent returns only once the mount is ready.
				select {
				case st := <-exited:
					if !st.Success() || !isMounted(dir) {
						t.Fatalf("daemonising parent exited %v, mounted: %v", st, isMounted(dir))
					}
				case <-time.After(time.Minute):
					t.Fatal("daemonising parent still runs after a minute")
				}
				a := watchMount(t, dir, state)
				checkServes(t, dir)
				a.umount(t)
				return
			}
			deadline := time.After(30 * time.Second)
			for !isMounted(dir) {
				select {
				case st := <-exited:
					t.Fatalf("tpmfs -f exited (%v) without mounting", st)
				case <-deadline:
					t.Fatal("no mount within 30s")
				case <-time.After(10 * time.Millisecond):
				}
			}
			checkServes(t, dir)
			run(t, "umount", dir)
			select {
			case st := <-exited:
				if !st.Success() {
					t.Errorf("tpmfs -f exited %v after umount", st)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("tpmfs -f still runs 10s after umount")
			}
		})
	}
}

// unitValue returns the value of key in a systemd unit's text.
