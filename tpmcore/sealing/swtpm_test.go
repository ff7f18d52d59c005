package sealing

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tpmcore/pcrsel"
)

func TestSwtpm(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, swtpmtest.Start(t).Dial(t)) })
	}
}

// TestTpm2ToolsSwtpm checks against tpm2-tools on the same swtpm: the
// policy digest equals tpm2_createpolicy's, the sealed-to values equal
// tpm2_pcrread's, nothing is left loaded (tpm2_getcap), and tpm2-tools
// unseals the key under the TCG SRK it creates itself, which opens the
// envelope.
func TestTpm2ToolsSwtpm(t *testing.T) {
	sw := swtpmtest.Start(t)
	dir := t.TempDir()
	conn := sw.Dial(t)
	extend(t, conn, pcrsel.SHA256, 7, readPCR(t, conn, pcrsel.SHA256, 7), []byte("shim"))
	extend(t, conn, pcrsel.SHA1, 1, readPCR(t, conn, pcrsel.SHA1, 1), []byte("grub"))
	extend(t, conn, pcrsel.SHA384, 23, readPCR(t, conn, pcrsel.SHA384, 23), []byte("app"))
	secret := []byte("tpm2-tools can open this")
	var objs []*Object
	for _, s := range []string{"sha256:0,7", "sha1:1+sha256:0,7", "sha256:all", "sha1:0+sha256:7+sha384:23+sha512:2", ""} {
		obj, err := Seal(conn, nil, "tools", Bind(mustParse(t, s)), secret)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unseal(conn, nil, "tools", obj, nil); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj)
	}
	conn.Close()

	if out := sw.Tool(t, nil, "tpm2_getcap", "handles-transient"); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("tpm2_getcap handles-transient after Seal/Unseal: %s", out)
	}
	if out := sw.Tool(t, nil, "tpm2_getcap", "handles-loaded-session"); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("tpm2_getcap handles-loaded-session after Seal/Unseal: %s", out)
	}

	tooMany := map[int]bool{}
	for i, obj := range objs {
		if obj.Selection == "" {
			continue
		}
		pcrFile := filepath.Join(dir, "pcrs")
		sw.Tool(t, nil, "tpm2_pcrread", obj.Selection, "-o", pcrFile)
		raw, err := os.ReadFile(pcrFile)
		if err != nil {
			t.Fatal(err)
		}
		var sealed []byte
		for _, v := range obj.PCRValues {
			sealed = append(sealed, v.Digest...)
		}
		if !bytes.Equal(sealed, raw) {
			t.Errorf("%s: sealed-to values %x, tpm2_pcrread %x", obj.Selection, sealed, raw)
		}
		polFile := filepath.Join(dir, "policy")
		_, err = sw.TryTool(t, nil, "tpm2_createpolicy", "--policy-pcr", "-l", obj.Selection, "-L", polFile)
		// Without a resource manager the tools leave their sessions loaded.
		sw.Tool(t, nil, "tpm2_flushcontext", "-l")
		if err != nil && mustParse(t, obj.Selection).Len() > 8 {
			// tpm2-tools before 5.6 builds PolicyPCR over 8 PCRs at most;
			// the policy scenario checks this one against the TPM itself.
			t.Logf("%s: tpm2-tools cannot compute it: %v", obj.Selection, err)
			tooMany[i] = true
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(polFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(obj.Policy, want) {
			t.Errorf("%s: policy %x, tpm2_createpolicy %x", obj.Selection, obj.Policy, want)
		}
		t.Logf("objs[%d] %s: policy %x matches tpm2_createpolicy", i, obj.Selection, want)
	}

	// tpm2-tools builds the SRK from the TCG template itself (unique:
	// 64 zero bytes, split into x and y) and unseals with its own policy
	// session.
	srk := filepath.Join(dir, "srk.ctx")
	sw.Tool(t, make([]byte, 64), "tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb",
		"-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt",
		"-u", "-", "-c", srk)
	sw.Tool(t, nil, "tpm2_flushcontext", "-t") // the context file stays usable
	for i, obj := range objs {
		if tooMany[i] {
			continue
		}
		pub, priv, item := filepath.Join(dir, "pub"), filepath.Join(dir, "priv"), filepath.Join(dir, "item.ctx")
		if err := os.WriteFile(pub, obj.Public, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(priv, obj.Private, 0o600); err != nil {
			t.Fatal(err)
		}
		sw.Tool(t, nil, "tpm2_load", "-C", srk, "-u", pub, "-r", priv, "-c", item)
		sw.Tool(t, nil, "tpm2_flushcontext", "-t")
		args := []string{"-c", item}
		if obj.Selection != "" {
			args = append(args, "-p", "pcr:"+obj.Selection)
		}
		key := sw.Tool(t, nil, "tpm2_unseal", args...)
		if got := openEnvelope(t, key, "tools", obj); !bytes.Equal(got, secret) {
			t.Errorf("objs[%d]: envelope opened to %q", i, got)
		}
		sw.Tool(t, nil, "tpm2_flushcontext", "-t")
		sw.Tool(t, nil, "tpm2_flushcontext", "-l")
	}
}

// TestWrongTPMSwtpm seals on one swtpm and unseals on another, which has
// other seeds.
func TestWrongTPMSwtpm(t *testing.T) {
	a, b := swtpmtest.Start(t), swtpmtest.Start(t)
	ca, cb := a.Dial(t), b.Dial(t)
	for _, s := range []string{"sha256:0,7", ""} {
		obj, err := Seal(ca, nil, "w", Bind(mustParse(t, s)), []byte("only on a"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Unseal(cb, nil, "w", obj, nil)
		if !errors.Is(err, ErrWrongTPM) {
			t.Errorf("pcrs %q: Unseal on the other swtpm: %v, want ErrWrongTPM", s, err)
		}
		if !strings.Contains(err.Error(), "TPM_RC_INTEGRITY") {
			t.Logf("pcrs %q: refused with %v", s, err)
		}
		if got, err := Unseal(ca, nil, "w", obj, nil); err != nil || string(got) != "only on a" {
			t.Errorf("pcrs %q: Unseal on the sealing swtpm: %q, %v", s, got, err)
		}
		assertNoHandles(t, cb, "wrong TPM")
		assertNoHandles(t, ca, "right TPM")
	}
}
