package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/swtpmtest"
)

// TestSealCommandsThroughIndependentProxy counts, with an independent
// latency proxy in front of swtpm (contrib/tpm-latency-proxy, modelling
// a discrete TPM), the commands a seal and an unseal through the mount
// send: the first of each makes the storage root key and the salted
// session, the next ones reuse them, and a warm unseal costs the modelled
// chip 37 ms. systemd-creds decrypting through tpmrm0 swaps nothing.
func TestSealCommandsThroughIndependentProxy(t *testing.T) {
	require(t, "swtpm", "python3", "systemd-creds")
	tpm := swtpmtest.Start(t)
	p := startLatencyProxy(t, tpm, "dtpm")
	state := t.TempDir()
	m := mountTPM(t, p.Source(), "state="+state)
	if err := os.Mkdir(m.Path("seal", "k"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(m.Path("seal", "k", "pcrs"), []byte("sha256:16\n")); err != nil {
		t.Fatal(err)
	}
	secret := []byte("a 32-byte secret of a service...")
	seal := func() {
		if err := writeFile(m.Path("seal", "k", "data"), secret); err != nil {
			t.Fatal(err)
		}
	}
	unseal := func() { expectSecret(t, m, "k", secret) }
	check := func(what string, cmds []proxyCommand, ms float64, want string, maxMS float64) {
		t.Helper()
		if got := listOf(cmds); got != want {
			t.Errorf("%s sent %s, want %s", what, got, want)
		}
		if ms > maxMS {
			t.Errorf("%s costs the modelled TPM %.0f ms, want at most %.0f", what, ms, maxMS)
		}
		t.Logf("%s: %s = %.0f ms on the modelled TPM", what, listOf(cmds), ms)
	}
	cmds, ms := p.during(t, seal)
	check("the first seal", cmds, ms, "ReadPublic(failed) CreatePrimary(ecc) "+
		"StartAuthSession(ecc-salted) PCR_Read Create(sealed)", 400)
	cmds, ms = p.during(t, seal)
	check("a warm seal", cmds, ms, "PCR_Read Create(sealed)", 120)
	cmds, ms = p.during(t, unseal)
	check("a warm unseal", cmds, ms, "Load StartAuthSession(unsalted) PolicyPCR Unseal FlushContext", 50)

	// A new mount: the first unseal makes key and session again.
	m.unmount(t)
	m = mountTPM(t, p.Source(), "state="+state)
	cmds, ms = p.during(t, unseal)
	check("the first unseal after a new mount", cmds, ms, "ReadPublic(failed) CreatePrimary(ecc) "+
		"StartAuthSession(ecc-salted) Load StartAuthSession(unsalted) PolicyPCR Unseal FlushContext", 400)

	// systemd-creds through tpmrm0: its own keys and sessions stay loaded
	// between its commands, and tpmfs's key gives way once.
	dir := t.TempDir()
	creds := func(args ...string) {
		t.Helper()
		cmd := exec.Command("systemd-creds", append([]string{"--tpm2-device=" + m.Path("tpmrm0"), "--name=c"}, args...)...)
		cmd.Stdin = strings.NewReader("credential")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("systemd-creds %v: %v\n%s", args, err, out)
		}
	}
	creds("encrypt", "--with-key=tpm2", "-", filepath.Join(dir, "cred"))
	creds("decrypt", filepath.Join(dir, "cred"), filepath.Join(dir, "out"))
	cmds, ms = p.during(t, func() {
		for range 3 {
			creds("decrypt", filepath.Join(dir, "cred"), filepath.Join(dir, "out"))
		}
	})
	for _, c := range cmds {
		if c.code == uint32(tpm2.TPMCCContextSave) || c.code == uint32(tpm2.TPMCCContextLoad) {
			t.Errorf("systemd-creds decrypt through tpmrm0 swapped contexts: %s", listOf(cmds))
			break
		}
	}
	t.Logf("3 × systemd-creds decrypt: %d commands, %.0f ms on the modelled TPM", len(cmds), ms)
}

// sealedParent reads the parent recorded in an object's state file: the
// storage root key's TPM name, in base64.
func sealedParent(t *testing.T, state, name string) string {
	t.Helper()
	var f struct {
		Sealed struct {
			Parent string `json:"parent"`
		} `json:"sealed"`
	}
	b, err := os.ReadFile(filepath.Join(state, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Sealed.Parent == "" {
		t.Fatalf("%s.json records no parent:\n%s", name, b)
	}
	return f.Sealed.Parent
}

// TestSRKPersistentRestartClear: tpmfs seals under a persistent SRK of
// the template that root puts at 0x81000001 through tpmrm0 (recording it
// as the parent), keeps opening what it sealed under its own template
// primary, survives a TPM restart without an error reaching a reader,
// and after root's tpm2_clear through tpmrm0 seals and unseals anew at
// once (what was sealed before is gone with the old seeds).
func TestSRKPersistentRestartClear(t *testing.T) {
	require(t, "swtpm", "tpm2_createprimary", "tpm2_evictcontrol", "tpm2_readpublic", "tpm2_clear")
	tpm := swtpmtest.Start(t)
	state := t.TempDir()
	m := mountTPM(t, tpm.Source(), "state="+state)
	T := "device:" + m.Path("tpmrm0")
	sealSecret(t, m, "old", []byte("sealed under the template primary"))
	templatePrimary := sealedParent(t, state, "old")

	// Root provisions a persistent SRK of the template, as systemd does.
	dir := t.TempDir()
	run(t, "tpm2_createprimary", "-T", T, "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb",
		"-a", "restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda", "-c", filepath.Join(dir, "srk.ctx"))
	run(t, "tpm2_evictcontrol", "-T", T, "-C", "o", "-c", filepath.Join(dir, "srk.ctx"), "0x81000001")
	run(t, "tpm2_readpublic", "-T", T, "-c", "0x81000001", "-n", filepath.Join(dir, "srk.name"))
	srkName, err := os.ReadFile(filepath.Join(dir, "srk.name"))
	if err != nil {
		t.Fatal(err)
	}
	sealSecret(t, m, "new", []byte("sealed under the persistent SRK"))
	if n := sealedParent(t, state, "new"); n != base64.StdEncoding.EncodeToString(srkName) || n == templatePrimary {
		t.Errorf("parent %s, want 0x81000001's name %x", n, srkName)
	}
	expectSecret(t, m, "new", []byte("sealed under the persistent SRK"))
	expectSecret(t, m, "old", []byte("sealed under the template primary"))

	// The TPM restarts (swtpm starts itself; tddl redials unseen): what
	// tpmfs kept loaded is gone, and it finds out as it uses it; readers
	// never see it.
	tpm.Stop()
	tpm.Restart(t)
	expectSecret(t, m, "new", []byte("sealed under the persistent SRK"))
	expectSecret(t, m, "old", []byte("sealed under the template primary"))
	if err := writeFile(m.Path("seal", "new", "data"), []byte("after the restart")); err != nil {
		t.Fatalf("seal after the restart: %v", err)
	}
	expectSecret(t, m, "new", []byte("after the restart"))
	// A power cycle: the TPM wants TPM2_Startup, which tells tpmfs at once.
	tpm.Stop()
	tpm.RestartWithoutStartup(t)
	expectSecret(t, m, "old", []byte("sealed under the template primary"))
	expectSecret(t, m, "new", []byte("after the restart"))
	if !m.waitLog("the TPM was reset or restarted: forgetting what was loaded") {
		t.Error("the power cycle went unnoticed")
	}

	// Root clears the TPM through tpmrm0: new seeds, no persistent SRK.
	run(t, "tpm2_clear", "-T", T)
	if _, err := os.ReadFile(m.Path("seal", "old", "data")); !errors.Is(err, syscall.EIO) {
		t.Errorf("an object sealed before tpm2_clear: %v, want EIO", err)
	}
	sealSecret(t, m, "cleared", []byte("sealed after tpm2_clear"))
	expectSecret(t, m, "cleared", []byte("sealed after tpm2_clear"))
	if n := sealedParent(t, state, "cleared"); n == templatePrimary || n == base64.StdEncoding.EncodeToString(srkName) {
		t.Errorf("after tpm2_clear: sealed under %s, a key of before", n)
	}
	for _, line := range strings.Split(m.Stderr(), "\n") {
		if strings.Contains(line, "object=cleared") && strings.Contains(line, "level=error") {
			t.Errorf("an error logged for the object sealed after tpm2_clear: %s", line)
		}
	}
}

// TestTpmrm0SecondClientSeesNoHandles: while one tpmrm0 client keeps its
// keys and a session loaded between its commands, a second client sees
// none of them, as with the kernel's tpmrm0, which flushes after every
// command: no handles, all object slots free, no loaded sessions, and
// it cannot reach the first client's handle.
func TestTpmrm0SecondClientSeesNoHandles(t *testing.T) {
	require(t, "swtpm", "tpm2_getcap", "tpm2_readpublic")
	tpm := swtpmtest.Start(t)
	m := mountTPM(t, tpm.Source())
	T := "device:" + m.Path("tpmrm0")
	before := run(t, "tpm2_getcap", "-T", T, "properties-variable")

	f, err := os.OpenFile(m.Path("tpmrm0"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := transport.FromReadWriter(f)
	var handles []tpm2.TPMHandle
	for range 2 {
		k, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(a)
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, k.ObjectHandle)
	}
	sess, _, err := tpm2.HMACSession(a, tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptOut))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(a, sess); err != nil {
		t.Fatal(err)
	}

	for _, c := range []string{"handles-transient", "handles-loaded-session"} {
		if out := strings.TrimSpace(run(t, "tpm2_getcap", "-T", T, c)); out != "" {
			t.Errorf("a second client's tpm2_getcap %s: %s", c, out)
		}
	}
	for _, prop := range []string{"TPM2_PT_HR_TRANSIENT_AVAIL", "TPM2_PT_HR_LOADED", "TPM2_PT_HR_LOADED_AVAIL"} {
		if got, want := propertyLine(run(t, "tpm2_getcap", "-T", T, "properties-variable"), prop), propertyLine(before, prop); got != want {
			t.Errorf("%s for a second client: %q, want %q as with nothing loaded", prop, got, want)
		}
	}
	if out, err := runErr("tpm2_readpublic", "-T", T, "-c", "0x"+strings.ToLower(strings.TrimPrefix(handleHex(handles[0]), "0x"))); err == nil {
		t.Errorf("a second client read the first one's key:\n%s", out)
	}
	// The first client's key and session still work.
	if _, err := (tpm2.ReadPublic{ObjectHandle: handles[1]}).Execute(a); err != nil {
		t.Errorf("the first client's key after the second client: %v", err)
	}
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(a, sess); err != nil {
		t.Errorf("the first client's session after the second client: %v", err)
	}
	f.Close()
	m.unmount(t)
	for _, c := range []string{"handles-transient", "handles-loaded-session", "handles-saved-session"} {
		if out := bytes.TrimSpace(tpm.Tool(t, nil, "tpm2_getcap", c)); len(out) != 0 {
			t.Errorf("after the clients closed and the unmount, swtpm has %s: %s", c, out)
		}
	}
}

func handleHex(h tpm2.TPMHandle) string { return "0x" + strings.ToLower(strconvHex(uint32(h))) }

func strconvHex(v uint32) string {
	const digits = "0123456789ABCDEF"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b[:])
}

// propertyLine returns the value tpm2_getcap properties-variable prints
// for prop ("TPM2_PT_HR_LOADED: 0x0" style YAML).
func propertyLine(out, prop string) string {
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == prop {
			return strings.TrimSpace(v)
		}
	}
	return "(missing)"
}
