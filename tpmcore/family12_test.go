package tpmcore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tpmcore/pcrsel"
	"tpmfs/tpmcore/sealing"
	"tpmfs/tpmcore/tpm12"
)

// extend1 is TPM 1.2's extend, computed here: SHA-1(old || digest).
func extend1(old, d []byte) []byte {
	h := sha1.New()
	h.Write(old)
	h.Write(d)
	return h.Sum(nil)
}

// composite1 is the digest TPM_Seal binds to for PCR 16 alone: SHA-1 of
// TPM_PCR_COMPOSITE (selection 00 03 | 00 00 01, 20 bytes of values).
func composite1(pcr16 []byte) []byte {
	b := []byte{0, 3, 0, 0, 1, 0, 0, 0, 20}
	s := sha1.Sum(append(b, pcr16...))
	return s[:]
}

// oiap starts an OIAP session with a hand-built TPM_OIAP, as a TSS would.
func oiap(t *testing.T, tr clientTPM) uint32 {
	t.Helper()
	rsp, err := tr.Send([]byte{0, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x0A})
	if err != nil || len(rsp) < 14 || binary.BigEndian.Uint32(rsp[6:]) != 0 {
		t.Fatalf("TPM_OIAP: %x, %v", rsp, err)
	}
	return binary.BigEndian.Uint32(rsp[10:])
}

// TestTPM12Core runs every typed operation on an owned swtpm 1.2, with
// srk_auth=file: holding 20 zero bytes (so the SRK secret is their
// SHA-1, which is what swtpm_setup --srk-well-known sets).
func TestTPM12Core(t *testing.T) {
	port := swtpmtest.Start12(t, true).Port
	c, _ := newCore12(t, port, make([]byte, 20))
	ctx := context.Background()

	t.Run("info", func(t *testing.T) {
		i := c.Info()
		if i.Family != "1.2" || !strings.HasPrefix(i.Firmware, "1.2.") || i.Manufacturer == "" || !slices.Equal(i.Banks, []string{"sha1"}) {
			t.Errorf("Info = %+v, want family 1.2, firmware 1.2.*, a manufacturer, banks [sha1]", i)
		}
		if b := c.Banks(); len(b) != 1 || b[0] != pcrsel.SHA1 || c.DefaultBank() != pcrsel.SHA1 {
			t.Errorf("Banks = %v, DefaultBank = %v, want sha1 only", b, c.DefaultBank())
		}
		for i, want := range map[int]bool{0: true, 16: true, 17: false, 22: false, 23: true} {
			if c.CanExtend(i) != want {
				t.Errorf("CanExtend(%d) = %v, want %v", i, !want, want)
			}
		}
	})

	t.Run("pcr", func(t *testing.T) {
		old, err := c.ReadPCR(ctx, pcrsel.SHA1, 16)
		if err != nil || !bytes.Equal(old, make([]byte, 20)) {
			t.Fatalf("PCR 16 after startup = %x, %v; want zeros", old, err)
		}
		d := make([]byte, 20)
		rand.Read(d)
		if err := c.Extend(ctx, pcrsel.SHA1, 16, d); err != nil {
			t.Fatal(err)
		}
		want := extend1(old, d)
		if got, err := c.ReadPCR(ctx, pcrsel.SHA1, 16); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after extend: %x, %v; want %x", got, err, want)
		}
		data := bytes.Repeat([]byte("event "), 300)
		if err := c.Measure(ctx, 16, data); err != nil {
			t.Fatal(err)
		}
		ev := sha1.Sum(data)
		want = extend1(want, ev[:])
		if got, err := c.ReadPCR(ctx, pcrsel.SHA1, 16); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after measure: %x, %v; want %x", got, err, want)
		}
		for name, err := range map[string]error{
			"short digest":  c.Extend(ctx, pcrsel.SHA1, 16, d[:19]),
			"sha256 bank":   c.Extend(ctx, pcrsel.SHA256, 16, make([]byte, 32)),
			"read sha256":   second(c.ReadPCR(ctx, pcrsel.SHA256, 16)),
			"read pcr 24":   second(c.ReadPCR(ctx, pcrsel.SHA1, 24)),
			"extend pcr -1": c.Extend(ctx, pcrsel.SHA1, -1, d),
		} {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if err := c.Measure(ctx, 17, nil); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("measure into PCR 17: %v, want ErrNotAllowed", err)
		}
		if err := c.Measure(ctx, 16, make([]byte, MaxEvent+1)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("measure of MaxEvent+1 bytes: %v, want ErrTooLarge", err)
		}
	})

	t.Run("random", func(t *testing.T) {
		a, b := make([]byte, 3000), make([]byte, 3000)
		if err := c.Random(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := c.Random(ctx, b); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, b) || bytes.Equal(a[2900:], make([]byte, 100)) {
			t.Errorf("random reads repeat or end in zeros")
		}
	})

	t.Run("seal", func(t *testing.T) {
		if _, err := c.ParseSelection("sha256:16"); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSelection(sha256:16) = %v, want ErrInvalid", err)
		}
		sel, err := c.ParseSelection("sha1:16")
		if err != nil {
			t.Fatal(err)
		}
		secret := []byte("a secret of the TPM 1.2")
		obj, err := c.Seal(ctx, "obj", Bind(sel), secret)
		if err != nil {
			t.Fatal(err)
		}
		pcr16, _ := c.ReadPCR(ctx, pcrsel.SHA1, 16)
		if obj.Family != "1.2" || len(obj.Public) != 0 || !bytes.Equal(obj.Policy, composite1(pcr16)) {
			t.Errorf("sealed object: family %q, %d-byte public, policy %x; want 1.2, none, %x",
				obj.Family, len(obj.Public), obj.Policy, composite1(pcr16))
		}
		if got, err := c.Unseal(ctx, "obj", obj, nil); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Unseal = %q, %v", got, err)
		}
		if _, err := c.Unseal(ctx, "renamed", obj, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Unseal under another name: %v, want ErrCorrupt", err)
		}
		// Nothing of ours stays loaded: no session, no key.
		assertNothingLoaded12(t, c)

		d := sha1.Sum([]byte("moved"))
		if err := c.Extend(ctx, pcrsel.SHA1, 16, d[:]); err != nil {
			t.Fatal(err)
		}
		_, err = c.Unseal(ctx, "obj", obj, nil)
		var pe *PolicyError
		if !errors.Is(err, ErrPolicy) || !errors.As(err, &pe) || len(pe.Differ) != 1 || pe.Differ[0].String() != "sha1:16" {
			t.Fatalf("Unseal after PCR 16 moved: %v, want ErrPolicy naming sha1:16", err)
		}
		if _, err := c.Reseal(ctx, "obj", obj, nil, Bind(Selection{})); !errors.Is(err, ErrPolicy) {
			t.Errorf("Reseal while the policy fails: %v, want ErrPolicy", err)
		}
		assertNothingLoaded12(t, c)

		// Reseal to no PCRs, then PCR 16 may move freely.
		obj, err = c.Seal(ctx, "obj", Bind(sel), secret)
		if err != nil {
			t.Fatal(err)
		}
		free, err := c.Reseal(ctx, "obj", obj, nil, Bind(Selection{}))
		if err != nil || len(free.Policy) != 0 || free.Selection != "" {
			t.Fatalf("Reseal to no PCRs = %+v, %v", free, err)
		}
		if err := c.Extend(ctx, pcrsel.SHA1, 16, d[:]); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Unseal(ctx, "obj", free, nil); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Unseal of the resealed object = %q, %v", got, err)
		}
	})

	t.Run("predicted", func(t *testing.T) {
		// Sealed to the value PCR 16 has after two extends, computed
		// here: refused until then, opened after, and TPM_Seal's
		// digestAtRelease (the policy) is that value's composite.
		old, err := c.ReadPCR(ctx, pcrsel.SHA1, 16)
		if err != nil {
			t.Fatal(err)
		}
		d1, d2 := sha1.Sum([]byte("one")), sha1.Sum([]byte("two"))
		v1 := sha1.Sum(append(bytes.Clone(old), d1[:]...))
		h := sha1.Sum(append(v1[:], d2[:]...))
		spec, err := c.ParseSpec(fmt.Sprintf("sha1:16=%x", h))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := c.Seal(ctx, "obj", Binding{PCRs: spec}, []byte("next boot"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(obj.Policy, composite1(h[:])) {
			t.Errorf("policy %x, want the composite of the predicted value %x", obj.Policy, composite1(h[:]))
		}
		r, err := c.Inspect(ctx, "obj", Binding{PCRs: spec}, obj, nil)
		if err != nil || len(r.PCRs) != 1 || r.PCRs[0].Matches() || !r.PCRs[0].Given || r.Belongs != sealing.BelongsHere {
			t.Errorf("Inspect before the extends: %+v, %v", r, err)
		}
		for _, d := range [][20]byte{d1, d2} {
			if _, err := c.Unseal(ctx, "obj", obj, nil); !errors.Is(err, ErrPolicy) {
				t.Fatalf("Unseal before PCR 16 got there: %v, want ErrPolicy", err)
			}
			if err := c.Extend(ctx, pcrsel.SHA1, 16, d[:]); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := c.Unseal(ctx, "obj", obj, nil); err != nil || string(got) != "next boot" {
			t.Fatalf("Unseal at the predicted value: %q, %v", got, err)
		}
		assertNothingLoaded12(t, c)
		if _, err := c.ParseAuthKey([]byte("-----BEGIN PUBLIC KEY-----\n")); !errors.Is(err, ErrUnsupported) {
			t.Errorf("ParseAuthKey on a TPM 1.2: %v, want ErrUnsupported", err)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		sel, _ := c.ParseSelection("sha1:16")
		obj, err := c.Seal(ctx, "obj", Bind(sel), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]func(o *Sealed){
			"policy":       func(o *Sealed) { o.Policy[0] ^= 1 },
			"pcr value":    func(o *Sealed) { o.PCRValues[0].Digest[0] ^= 1 },
			"pcr index":    func(o *Sealed) { o.PCRValues[0].Index = 15 },
			"selection":    func(o *Sealed) { o.Selection = "sha1:15" },
			"no selection": func(o *Sealed) { o.Selection, o.Policy, o.PCRValues = "", nil, nil },
			"sha256 bank":  func(o *Sealed) { o.Selection = "sha256:16" },
			"public":       func(o *Sealed) { o.Public = []byte{0, 0} },
			"blob cut":     func(o *Sealed) { o.Private = o.Private[:len(o.Private)-1] },
			"blob digest": func(o *Sealed) {
				// digestAtRelease, after an equal digestAtCreation.
				o.Private[bytes.LastIndex(o.Private, o.Policy)] ^= 1
			},
		} {
			o := *obj
			o.Policy, o.Private = bytes.Clone(obj.Policy), bytes.Clone(obj.Private)
			o.PCRValues = []sealing.PCRValue{obj.PCRValues[0]}
			o.PCRValues[0].Digest = bytes.Clone(obj.PCRValues[0].Digest)
			f(&o)
			if _, err := c.Unseal(ctx, "obj", &o, nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s altered: %v, want ErrCorrupt", name, err)
			}
		}
		o := *obj
		o.Family = ""
		if _, err := c.Unseal(ctx, "obj", &o, nil); !errors.Is(err, ErrWrongTPM) {
			t.Errorf("a TPM 2.0 object: %v, want ErrWrongTPM", err)
		}
		if got, err := c.Unseal(ctx, "obj", obj, nil); err != nil || string(got) != "x" {
			t.Errorf("the unaltered object: %q, %v", got, err)
		}
	})

	t.Run("wrong srk secret", func(t *testing.T) {
		// The same TPM with srk_auth=well-known: TrouSerS' 20 zero bytes,
		// not what swtpm_setup set. The one swtpm serves one client, so
		// this core takes over its connection after c is closed.
		c.Close()
		w, _ := newCore12(t, port, nil)
		sel, _ := w.ParseSelection("sha1:16")
		if _, err := w.Seal(ctx, "obj", Bind(sel), []byte("x")); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "srk_auth") {
			t.Errorf("Seal with the wrong SRK secret: %v, want ErrNotAllowed mentioning srk_auth", err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

// assertNothingLoaded12 lists the TPM's sessions and keys through a raw
// client: none may be loaded between operations.
func assertNothingLoaded12(t *testing.T, c *Core) {
	t.Helper()
	cl, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, rt := range []tpm12.ResourceType{tpm12.ResourceAuth, tpm12.ResourceKey} {
		if hs, err := tpm12.LoadedHandles(clientTPM{cl}, rt); err != nil || len(hs) != 0 {
			t.Errorf("loaded handles of type %d: %x, %v; want none", rt, hs, err)
		}
	}
}

// testRawClient checks the passthrough: one opener at a time, and a
// TSS's session survives tpmcore's cleanup after a failed operation,
// which flushes only the session that operation left.
func testRawClient(t *testing.T, c *Core) {
	ctx := context.Background()
	cl, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewClient(0); !errors.Is(err, ErrBusy) {
		t.Fatalf("second NewClient: %v, want ErrBusy", err)
	}
	tss := oiap(t, clientTPM{cl})

	// An operation that starts a session and fails before ending it, as
	// one cut short between OSAP and its flush would.
	var ours uint32
	failed := errors.New("cut short")
	err = c.fam.(*family12).do(ctx, true, func(tr transport.TPM) error {
		rsp, err := tr.Send([]byte{0, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x0A})
		if err != nil || len(rsp) < 14 {
			t.Fatalf("TPM_OIAP: %x, %v", rsp, err)
		}
		ours = binary.BigEndian.Uint32(rsp[10:])
		return failed
	})
	if !errors.Is(err, failed) || ours == tss {
		t.Fatalf("do = %v, session %x (the TSS's is %x)", err, ours, tss)
	}
	// The next job flushes what the failed one left, and only that.
	hs, err := tpm12.LoadedHandles(clientTPM{cl}, tpm12.ResourceAuth)
	if err != nil || !slices.Equal(hs, []uint32{tss}) {
		t.Fatalf("sessions after the cleanup: %x, %v; want only the TSS's %x", hs, err, tss)
	}
	if err := tpm12.FlushSession(clientTPM{cl}, tss); err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Transmit(ctx, []byte{0, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x0A}); !errors.Is(err, ErrClosed) {
		t.Errorf("Transmit after Close: %v, want ErrClosed", err)
	}
	cl2, err := c.NewClient(0)
	if err != nil {
		t.Fatalf("NewClient after Close: %v", err)
	}
	cl2.Close()
}

// TestTPM12NotOwned: a TPM without owner starts, says that sealing needs
// ownership, and Seal fails with ErrNotOwned saying how; PCRs and the raw
// channel work.
func TestTPM12NotOwned(t *testing.T) {
	c, hook := newCore12(t, swtpmtest.Start12(t, false).Port, nil)
	warned := false
	for _, e := range hook.AllEntries() {
		warned = warned || e.Level == logrus.WarnLevel && strings.Contains(e.Message, "tpm_takeownership")
	}
	if !warned {
		t.Errorf("no warning about taking ownership at start")
	}
	sel, _ := c.ParseSelection("sha1:16")
	_, err := c.Seal(context.Background(), "obj", Bind(sel), []byte("x"))
	if !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), "take ownership") {
		t.Fatalf("Seal on an unowned TPM: %v, want ErrNotOwned saying to take ownership", err)
	}
	if _, err := c.ReadPCR(context.Background(), pcrsel.SHA1, 0); err != nil {
		t.Error(err)
	}
	t.Run("raw client", func(t *testing.T) { testRawClient(t, c) })
}

// rsp12 is a bare TPM 1.2 (or, with tag 0x8001, TPM 2.0) response header.
func rsp12(tag uint16, code uint32) []byte {
	b := binary.BigEndian.AppendUint16(nil, tag)
	b = binary.BigEndian.AppendUint32(b, 10)
	return binary.BigEndian.AppendUint32(b, code)
}

// TestTPM12Retry: the one retry loop also retries a TPM 1.2's TPM_RETRY
// (0x800) and TPM_DOING_SELFTEST (0x802), and nothing else of it.
func TestTPM12Retry(t *testing.T) {
	for _, c := range []struct {
		rsp  []byte
		want bool
	}{
		{rsp12(0xC4, 0x800), true}, {rsp12(0xC4, 0x802), true},
		{rsp12(0xC5, 0x800), true}, // after an authorized command
		{rsp12(0xC4, 0x803), false}, {rsp12(0xC4, 0), false}, {rsp12(0xC4, 0x18), false},
		{rsp12(0x8001, 0x800), false}, {rsp12(0x8001, 0x922), true}, // TPM 2.0's TPM_RC_RETRY
	} {
		if got := retryable(c.rsp); got != c.want {
			t.Errorf("retryable(%x) = %v, want %v", c.rsp, got, c.want)
		}
	}
	answers := [][]byte{rsp12(0xC4, 0x802), rsp12(0xC4, 0x800), rsp12(0xC4, 0)}
	sent := 0
	rsp, err := retry(context.Background(), func() ([]byte, error) {
		sent++
		return answers[min(sent, len(answers))-1], nil
	})
	if err != nil || sent != 3 || !bytes.Equal(rsp, answers[2]) {
		t.Errorf("retry over a TPM 1.2 = %x, %v after %d sends; want success after 3", rsp, err, sent)
	}
}

// TestTPM12ObjectOnTPM20: a TPM 2.0 refuses a TPM 1.2 object as another
// TPM's, before sending anything.
func TestTPM12ObjectOnTPM20(t *testing.T) {
	c := newSimCore(t)
	obj := &Sealed{Family: "1.2", Selection: "sha1:16", Private: []byte{1}, Nonce: []byte{1}, Ciphertext: []byte{1}}
	if _, err := c.Unseal(context.Background(), "obj", obj, nil); !errors.Is(err, ErrWrongTPM) {
		t.Errorf("Unseal of a TPM 1.2 object on a TPM 2.0: %v, want ErrWrongTPM", err)
	}
}
