//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"

	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

// credsSecret is what systemd-creds encrypts.
const credsSecret = "tpmfs-bench credential"

// credsTool is systemd-creds with a TPM2 device or TCTI; it binds the
// credential to the default PCR 7, as on a real machine.
type credsTool struct {
	device string // --tpm2-device=
	file   string // the encrypted credential
}

// newCreds encrypts a credential with the TPM at device, once.
func newCreds(device string) (*credsTool, error) {
	if _, err := exec.LookPath("systemd-creds"); err != nil {
		return nil, fmt.Errorf("systemd-creds not installed: %w", err)
	}
	dir, err := os.MkdirTemp("", "tpmfs-bench-creds")
	if err != nil {
		return nil, err
	}
	c := &credsTool{device: device, file: filepath.Join(dir, "cred")}
	cmd := exec.Command("systemd-creds", "encrypt", "--with-key=tpm2", "--tpm2-device="+device, "--name=bench", "-", c.file)
	cmd.Stdin = strings.NewReader(credsSecret)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.remove()
		return nil, fmt.Errorf("systemd-creds encrypt --tpm2-device=%s: %w\n%s", device, err, out)
	}
	return c, nil
}

// decrypt runs `systemd-creds decrypt` and checks what comes out.
func (c *credsTool) decrypt() error {
	cmd := exec.Command("systemd-creds", "decrypt", "--tpm2-device="+c.device, "--name=bench", c.file, "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("systemd-creds decrypt --tpm2-device=%s: %w\n%s", c.device, err, stderr.String())
	}
	if string(out) != credsSecret {
		return fmt.Errorf("systemd-creds decrypt: got %q, want %q", out, credsSecret)
	}
	return nil
}

func (c *credsTool) remove() { os.RemoveAll(filepath.Dir(c.file)) }

// mountCreds times systemd-creds decrypt through the mount's tpmrm0.
func mountCreds(d *daemon, dur time.Duration, m *meter, f *figures) error {
	c, err := newCreds(d.path("tpmrm0"))
	if err != nil {
		return err
	}
	defer c.remove()
	return f.timed("creds", dur, m, c.decrypt)
}

// directCreds times systemd-creds decrypt straight on the TPM (tpm2-tss's
// swtpm TCTI). systemd 252 leaves a session loaded each time, which a
// resource manager flushes when it closes, so this one flushes what is
// left after each decrypt, as part of it.
func directCreds(cfg source.Config, dur time.Duration, m *meter, f *figures) error {
	c, err := newCreds(cfg.String())
	if err != nil {
		return err
	}
	defer c.remove()
	if err := flushAll(cfg); err != nil {
		return err
	}
	return f.timed("creds", dur, m, func() error {
		if err := c.decrypt(); err != nil {
			return err
		}
		return flushAll(cfg)
	})
}

// flushAll flushes every transient object and loaded session of the TPM.
func flushAll(cfg source.Config) error {
	t, err := tddl.Open(cfg)
	if err != nil {
		return err
	}
	defer t.Close()
	for _, first := range []uint32{0x80000000, 0x02000000} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: 64}.Execute(t)
		if err != nil {
			return fmt.Errorf("list handles: %w", err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return fmt.Errorf("list handles: %w", err)
		}
		for _, h := range hs.Handle {
			if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t); err != nil {
				return fmt.Errorf("flush 0x%08x: %w", uint32(h), err)
			}
		}
	}
	return nil
}
