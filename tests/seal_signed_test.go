package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
)

// systemdMeasure is systemd 252's tool for signed PCR policies of unified
// kernel images.
const systemdMeasure = "/lib/systemd/systemd-measure"

// uki is a unified kernel image's sections, as files, and a key pair
// made with openssl genpkey to sign its PCR policies.
type uki struct {
	dir             string
	linux, osrel    string
	cmdline         string
	priv, pub       string
	otherPriv       string
	otherPub        string
	measureTPM      string // tpmrm0 of the tpmfs systemd-measure signs with
	sections        []string
	sectionContents [][]byte
}

func newUKI(t *testing.T, signTPM string) *uki {
	t.Helper()
	dir := t.TempDir()
	u := &uki{dir: dir, measureTPM: signTPM}
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kernel := make([]byte, 64<<10)
	rand.Read(kernel)
	osrel := []byte("ID=tpmfs\nVERSION_ID=1\n")
	cmdline := []byte("root=/dev/vda1 ro quiet")
	u.linux, u.osrel, u.cmdline = file("vmlinuz", kernel), file("os-release", osrel), file("cmdline", cmdline)
	// The order systemd-stub measures them in (unified_sections).
	u.sections = []string{".linux", ".osrel", ".cmdline"}
	u.sectionContents = [][]byte{kernel, osrel, cmdline}
	u.priv, u.pub = filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	u.otherPriv, u.otherPub = filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.pub.pem")
	for _, k := range [][2]string{{u.priv, u.pub}, {u.otherPriv, u.otherPub}} {
		run(t, "openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k[0])
		run(t, "openssl", "pkey", "-in", k[0], "-pubout", "-out", k[1])
	}
	return u
}

func (u *uki) args(phase string) []string {
	return []string{"--linux=" + u.linux, "--osrel=" + u.osrel, "--cmdline=" + u.cmdline, "--bank=sha256", "--phase=" + phase}
}

// allBanks drops --bank: systemd-measure then signs every bank it knows
// (sha1, sha256, sha384, sha512), each over that bank's hash.
func allBanks(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--bank=") {
			out = append(out, a)
		}
	}
	return out
}

// calculate is systemd-measure calculate's PCR 11 for the phase.
func (u *uki) calculate(t *testing.T, phase string) string {
	t.Helper()
	out := run(t, systemdMeasure, append([]string{"calculate"}, u.args(phase)...)...)
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "11:sha256="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("systemd-measure calculate printed no 11:sha256=:\n%s", out)
	return ""
}

// sign is systemd-measure sign's JSON for the phase (sha256 bank), with
// the TPM of the second tpmfs, signed with priv.
func (u *uki) sign(t *testing.T, phase, priv, pub string) []byte {
	return u.signArgs(t, u.args(phase), priv, pub)
}

func (u *uki) signArgs(t *testing.T, sectionArgs []string, priv, pub string) []byte {
	t.Helper()
	args := append([]string{"sign"}, sectionArgs...)
	args = append(args, "--private-key="+priv, "--public-key="+pub, "--tpm2-device="+u.measureTPM)
	out, err := runStdout(systemdMeasure, args...)
	if err != nil {
		t.Fatalf("systemd-measure sign: %v", err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil || v["sha256"] == nil {
		t.Fatalf("systemd-measure sign printed %q (%v)", out, err)
	}
	return out
}

// extendSections makes the PCR 11 extends systemd-stub makes for the
// image (each section's name with its NUL, then its contents), then those
// of systemd-pcrphase for each word of the phase, through
// pcrs/sha256/11.
func (u *uki) extendSections(t *testing.T, m *mount) {
	t.Helper()
	for i, name := range u.sections {
		extend11(t, m, append([]byte(name), 0))
		extend11(t, m, u.sectionContents[i])
	}
}

func extend11(t *testing.T, m *mount, data []byte) {
	t.Helper()
	d := sha256.Sum256(data)
	sh(t, fmt.Sprintf("echo %x > %s", d, m.Path("pcrs", "sha256", "11")))
}

// runStdout runs a command with a timeout and returns its standard
// output alone, with its standard error in the error.
func runStdout(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, nil
}

// TestSealSignedSystemd: authkey from openssl genpkey and pcrsig from
// systemd-measure sign (against a second tpmfs's tpmrm0): after the PCR
// 11 extends systemd-measure calculate predicts for enter-initrd, data
// opens; after one more extend, EACCES; after writing the pcrsig for the
// next phase, it opens again without a reseal; a signature by another
// key is refused at write.
func TestSealSignedSystemd(t *testing.T) {
	require(t, systemdMeasure, "openssl", "tpm2_loadexternal", "tpm2_policyauthorize")
	main, signer := swtpmtest.Start(t), swtpmtest.Start(t)
	state := t.TempDir()
	m := mountSeal(t, main.Source(), state)
	ms := mountTPM(t, signer.Source())
	u := newUKI(t, ms.Path("tpmrm0"))
	obj := func(f string) string { return m.Path("seal", "uki", f) }

	os.Mkdir(m.Path("seal", "uki"), 0o700)
	sh(t, "cat "+u.pub+" > "+obj("authkey"))
	if got, want := sh(t, "cat "+obj("authkey")), string(must(os.ReadFile(u.pub))); got != want {
		t.Errorf("authkey reads %q, wrote %q", got, want)
	}
	initrd := u.sign(t, "enter-initrd", u.priv, u.pub)
	if err := writeFile(obj("pcrsig"), initrd); err != nil {
		t.Fatalf("write pcrsig: %v\n%s\n%s", err, initrd, m.Stderr())
	}
	sh(t, "echo disk key > "+obj("data"))
	sealedBefore := sealedPart(t, state, "uki")

	// The policy is PolicyAuthorize by the key, as tpm2-tools computes
	// it through the mount's tpmrm0.
	dir := t.TempDir()
	T := "device:" + m.Path("tpmrm0")
	if out, err := runErr("tpm2_loadexternal", "-T", T, "-C", "o", "-G", "rsa", "-u", u.pub, "-n", filepath.Join(dir, "key.name"), "-c", filepath.Join(dir, "key.ctx")); err != nil {
		t.Fatalf("%v %s\n%s", err, out, m.Stderr())
	}
	os.WriteFile(filepath.Join(dir, "approved"), make([]byte, 32), 0o600)
	run(t, "sh", "-c", fmt.Sprintf("tpm2_startauthsession -T %[1]s -S %[2]s/s && tpm2_policyauthorize -T %[1]s -S %[2]s/s -L %[2]s/policy -i %[2]s/approved -n %[2]s/key.name",
		T, dir))
	if got, want := strings.TrimSpace(sh(t, "cat "+obj("policy"))), fmt.Sprintf("%x", must(os.ReadFile(filepath.Join(dir, "policy")))); got != want {
		t.Errorf("policy %s, tpm2_policyauthorize says %s", got, want)
	}

	// Before the boot's measurements: refused.
	if _, err := os.ReadFile(obj("data")); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("unseal before PCR 11 holds the image: %v, want EACCES", err)
	}
	u.extendSections(t, m)
	extend11(t, m, []byte("enter-initrd"))
	if got, want := readPCR(t, m.Path("pcrs", "sha256", "11")), u.calculate(t, "enter-initrd"); got != want {
		t.Fatalf("PCR 11 = %s, systemd-measure calculate says %s", got, want)
	}
	if got := sh(t, "cat "+obj("data")); got != "disk key\n" {
		t.Fatalf("unseal in the signed phase = %q", got)
	}
	if st := statusOf(t, m, "uki"); !strings.HasSuffix(st["pcrsig 1"], "matches the current values") || st["unseal"] != "would succeed now" {
		t.Errorf("status in the signed phase: %v", st)
	}

	// One more extend: no signed policy for it.
	extend11(t, m, []byte("leave-initrd"))
	if _, err := os.ReadFile(obj("data")); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("unseal in an unsigned phase: %v, want EACCES", err)
	}
	if !m.waitLog("pcrs_unsigned=") {
		t.Errorf("the log does not say no signed policy matched:\n%s", m.Stderr())
	}
	st := statusOf(t, m, "uki")
	if st["unseal"] != "would fail now: no signed policy matches the current PCRs" ||
		st["signed sha256:11"] != "current="+u.calculate(t, "enter-initrd:leave-initrd") {
		t.Errorf("status in an unsigned phase: %v", st)
	}

	// A signature by another key is refused at write, changing nothing.
	forged := u.sign(t, "enter-initrd:leave-initrd", u.otherPriv, u.otherPub)
	if err := writeFile(obj("pcrsig"), forged); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("pcrsig signed by another key: %v, want EINVAL", err)
	}
	if got := sh(t, "cat "+obj("pcrsig")); got != compactJSON(t, initrd) {
		t.Errorf("pcrsig after a refused write: %q", got)
	}

	// The next phase's signature, in every bank as systemd-measure signs
	// by default: opens again, no reseal.
	next := u.signArgs(t, allBanks(u.args("enter-initrd:leave-initrd")), u.priv, u.pub)
	if err := writeFile(obj("pcrsig"), next); err != nil {
		t.Fatalf("write the next phase's pcrsig: %v", err)
	}
	if got := sh(t, "cat "+obj("data")); got != "disk key\n" {
		t.Fatalf("unseal with the next phase's signature = %q", got)
	}
	if after := sealedPart(t, state, "uki"); after != sealedBefore {
		t.Errorf("writing pcrsig resealed the data")
	}
	st = statusOf(t, m, "uki")
	if !strings.Contains(st["pcrsig 1"], "not usable") || !strings.Contains(st["pcrsig 2"], "sha256:11") ||
		!strings.HasSuffix(st["pcrsig 2"], "matches the current values") {
		t.Errorf("status with every bank signed: %v", st)
	}

	// An ECC P-256 authkey: systemd-measure's fingerprint and ECDSA
	// signature are taken as well.
	ecPriv, ecPub := filepath.Join(u.dir, "ec.pem"), filepath.Join(u.dir, "ec.pub.pem")
	run(t, "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ecPriv)
	run(t, "openssl", "pkey", "-in", ecPriv, "-pubout", "-out", ecPub)
	os.Mkdir(m.Path("seal", "ecc"), 0o700)
	sh(t, "cat "+ecPub+" > "+m.Path("seal", "ecc", "authkey"))
	if err := writeFile(m.Path("seal", "ecc", "pcrsig"), u.sign(t, "enter-initrd:leave-initrd", ecPriv, ecPub)); err != nil {
		t.Fatalf("pcrsig signed with an ECC key: %v\n%s", err, m.Stderr())
	}
	sh(t, "echo ecc key > "+m.Path("seal", "ecc", "data"))
	if got := sh(t, "cat "+m.Path("seal", "ecc", "data")); got != "ecc key\n" {
		t.Errorf("unseal under an ECC authkey = %q", got)
	}
}

// sealedPart is the "sealed" member of an object's state file: what a
// reseal changes.
func sealedPart(t *testing.T, state, name string) string {
	t.Helper()
	var f struct {
		Sealed json.RawMessage `json:"sealed"`
	}
	if err := json.Unmarshal(must(os.ReadFile(filepath.Join(state, name+".json"))), &f); err != nil || f.Sealed == nil {
		t.Fatalf("state file of %s: %v", name, err)
	}
	return string(f.Sealed)
}

// compactJSON is what pcrsig reads back: the same JSON, compact, banks
// sorted, with a newline.
func compactJSON(t *testing.T, b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String() + "\n"
}

// TestSealSignedAttacks: what others and mistakes can do to authkey,
// pcrsig and status. An unprivileged user keeps a signed object of their
// own; another user can neither replace its signatures nor read its
// status until the owner shares it (and then still not write); a typo or
// a second line in authkey or pcrsig is refused at write (the shell
// reports it) and changes nothing; a descriptor kept across rmdir and
// mkdir of the same name never reaches the new object.
func TestSealSignedAttacks(t *testing.T) {
	require(t, systemdMeasure, "openssl")
	main, signer := swtpmtest.Start(t), swtpmtest.Start(t)
	m := mountShared(t, main.Source(), "allow_other", "seal_mode=1777", "state="+t.TempDir())
	ms := mountTPM(t, signer.Source())
	u := newUKI(t, ms.Path("tpmrm0"))
	work := workDir(t)
	file := func(name string, data []byte) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub := file("pub.pem", must(os.ReadFile(u.pub)))
	otherPub := file("other.pem", must(os.ReadFile(u.otherPub)))
	sig := file("pcrsig.json", u.sign(t, "enter-initrd", u.priv, u.pub))
	u.extendSections(t, m)
	extend11(t, m, []byte("enter-initrd"))
	obj := func(f string) string { return m.Path("seal", "n", f) }

	// nobody's own signed object, with shell tools only.
	nobody.must(t, "mkdir "+m.Path("seal", "n")+" && cat "+pub+" > "+obj("authkey")+" && cat "+sig+" > "+obj("pcrsig")+
		" && echo nobody disk key > "+obj("data"))
	if got := nobody.must(t, "cat "+obj("data")); got != "nobody disk key\n" {
		t.Fatalf("owner unseals %q", got)
	}
	for f, mode := range map[string]uint32{"authkey": 0o600, "pcrsig": 0o600, "status": 0o400} {
		if got, want := statAttr(t, obj(f)), (attr{syscall.S_IFREG | mode, nobody.uid32(), nobody.gid32()}); got != want {
			t.Errorf("seal/n/%s: %v, want %v", f, got, want)
		}
	}
	sigText := nobody.must(t, "cat "+obj("pcrsig"))
	authText := nobody.must(t, "cat "+obj("authkey"))

	// Another user: no access to the signatures or the status.
	forged := file("forged.json", u.sign(t, "enter-initrd", u.otherPriv, u.otherPub))
	other.refused(t, syscall.EACCES, "cat "+forged+" > "+obj("pcrsig"))
	other.refused(t, syscall.EACCES, ": > "+obj("pcrsig"))
	other.refused(t, syscall.EACCES, "cat "+otherPub+" > "+obj("authkey"))
	other.refused(t, syscall.EACCES, "cat "+obj("status"))
	nobody.must(t, "chmod 755 "+m.Path("seal", "n"))
	if st := other.must(t, "cat "+obj("status")); !strings.Contains(st, "unseal: would succeed now") {
		t.Errorf("status shared with others reads %q", st)
	}
	other.refused(t, syscall.EACCES, "cat "+forged+" > "+obj("pcrsig"))
	other.refused(t, syscall.EACCES, "echo x > "+obj("status"))
	nobody.must(t, "chmod 700 "+m.Path("seal", "n"))

	// Mistakes, even the owner's: refused at write, nothing changes.
	pemText := string(must(os.ReadFile(u.pub)))
	for name, text := range map[string]string{
		"authkey typo":         strings.Replace(pemText, "PUBLIC", "PUBLlC", 1),
		"authkey second line":  pemText + "ssh-rsa AAAA\n",
		"authkey another key":  string(must(os.ReadFile(u.otherPub))),
		"pcrsig typo":          strings.Replace(sigText, `"sig"`, `"slg"`, 1),
		"pcrsig second line":   sigText + sigText,
		"pcrsig another key":   string(must(os.ReadFile(forged))),
		"pcrsig truncated sig": strings.Replace(sigText, `=="}`, `"}`, 1),
	} {
		target := "pcrsig"
		if strings.HasPrefix(name, "authkey") {
			target = "authkey"
		}
		want := syscall.EINVAL
		if name == "authkey another key" {
			want = syscall.EPERM // data is sealed with the authkey
		}
		nobody.refused(t, want, "cat "+file("bad", []byte(text))+" > "+obj(target))
		if got := nobody.must(t, "cat "+obj("pcrsig")); got != sigText {
			t.Errorf("after %s: pcrsig = %q", name, got)
		}
		if got := nobody.must(t, "cat "+obj("authkey")); got != authText {
			t.Errorf("after %s: authkey = %q", name, got)
		}
	}
	if got := nobody.must(t, "cat "+obj("data")); got != "nobody disk key\n" {
		t.Errorf("data after the refused writes = %q", got)
	}

	// A descriptor kept across rmdir and mkdir of the same name.
	w, err := os.OpenFile(obj("pcrsig"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st, err := os.Open(obj("status"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sh(t, "rmdir "+m.Path("seal", "n")+" && mkdir "+m.Path("seal", "n")+" && cat "+pub+" > "+obj("authkey"))
	if _, err := w.Write(must(os.ReadFile(sig))); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("pcrsig write through a descriptor of the removed object: %v, want ESTALE", err)
	}
	if _, err := st.Read(make([]byte, 100)); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("status read through a descriptor of the removed object: %v, want ESTALE", err)
	}
	if got := sh(t, "cat "+obj("pcrsig")); got != "" {
		t.Errorf("the new object's pcrsig = %q", got)
	}
}
