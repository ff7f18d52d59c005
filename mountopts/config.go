package mountopts

import (
	"path/filepath"
	"strconv"
	"strings"

	"tpmfs/tddl/source"
	"tpmfs/tpmcore/pcrsel"
)

// Config is a parsed and validated mount configuration.
type Config struct {
	Source     string        // SOURCE as given
	TPM        source.Config // SOURCE parsed by source.Parse
	AllowOther bool
	ReadOnly   bool
	NoExec     bool // noexec: honoured, unlike the other VFS flags
	// DefaultPermissions: the option was given. tpmfs always sets it;
	// a mount point /dev/fd/N that mount.fuse3 mounted must have had it.
	DefaultPermissions bool
	UID, GID           uint32
	// Permission bits, sticky/setgid/setuid included; always <= 07777.
	PCRMode, RandomMode, SealMode, DeviceMode uint32
	EKMode, AKMode, NVMode                    uint32     // ek/**, ak/ and the cap of nv/* (TPM 2.0)
	LogMode                                   uint32     // eventlog/*
	StateDir                                  string     // absolute and clean
	Bank                                      string     // "" = the TPM's default; else a bank of package pcrsel
	SRKAuth                                   SRKAuth    // secret for the storage hierarchy
	SealQuota                                 *SealQuota // for every uid but root; nil: none
	FSName                                    string     // default: Source
	Subtype                                   string     // default: "tpmfs"
	Ignored                                   []string   // compatibility options accepted and ignored, as given
	RMPolicy                                  string     // rm_policy=: one of RMPolicies
	RMQuota                                   RMQuota    // rm_quota=, for each non-admin uid
	// EventlogDir is eventlog_dir=; "" is the default, which depends on
	// SOURCE (see KernelLogDir).
	EventlogDir string
}

// SRKAuth is the secret of the storage hierarchy (srk_auth=).
type SRKAuth struct {
	// WellKnown selects the well-known secret: empty on TPM 2.0, 20 zero
	// bytes on TPM 1.2 (TrouSerS -z).
	WellKnown bool
	// File, when WellKnown is false, is the absolute path of a file
	// holding the secret.
	File string
}

// RMQuota is what one uid other than root and uid= may hold through
// tpmrm0 at once (rm_quota=OBJECTS:SESSIONS:OPENS).
type RMQuota struct {
	Objects, Sessions, Opens int
}

// RMPolicies lists the values rm_policy= accepts, from least to most
// restricted (tpmcore/cmdpolicy's levels).
var RMPolicies = []string{"open", "standard", "strict"}

// bankNames lists the values bank= accepts, in the spelling of
// tpm2-tools: the banks package pcrsel knows.
func bankNames() string {
	var names []string
	for _, b := range pcrsel.Banks() {
		names = append(names, b.Name)
	}
	return strings.Join(names, ", ")
}

// Defaults of DESIGN.md's option table.
const (
	DefaultPCRMode    = 0o644
	DefaultRandomMode = 0o444
	DefaultSealMode   = 0o755
	DefaultEKMode     = 0o444
	DefaultAKMode     = 0o755
	DefaultNVMode     = 0o644
	DefaultDeviceMode = 0o600
	DefaultLogMode    = 0o444
	// DefaultEventlogDir is where the kernel mounts securityfs.
	DefaultEventlogDir = "/sys/kernel/security"
	DefaultSubtype     = "tpmfs"
	DefaultRMPolicy    = "standard"
	RootStateDir       = "/var/lib/tpmfs"
	maxMode            = 0o7777
	maxQuota           = 1 << 16 // far above what a TPM holds at once
)

// DefaultRMQuota leaves room for root and tpmfs itself: the reference
// TPM holds 64 sessions at a time.
var DefaultRMQuota = RMQuota{Objects: 16, Sessions: 4, Opens: 8}

// KernelLogDir says where the kernel's event logs of the TPM the mount
// serves are: eventlog_dir= if given, else the kernel's securityfs for a
// kernel TPM (SOURCE auto, or /dev/tpmN or /dev/tpmrmN) and none ("")
// for other TPMs, whose logs the kernel does not keep; and which tpmN
// directory in it is the TPM's (N of the device's name, else 0).
func (c *Config) KernelLogDir() (dir string, tpm int) {
	kernel := c.TPM.Kind == source.Auto
	if c.TPM.Kind == source.Device && filepath.Dir(c.TPM.Path) == "/dev" {
		name := filepath.Base(c.TPM.Path)
		num, ok := strings.CutPrefix(name, "tpmrm")
		if !ok {
			num, ok = strings.CutPrefix(name, "tpm")
		}
		if n, err := strconv.Atoi(num); ok && err == nil && n >= 0 && isDigits(num) {
			kernel, tpm = true, n
		}
	}
	switch {
	case c.EventlogDir != "":
		return c.EventlogDir, tpm
	case kernel:
		return DefaultEventlogDir, tpm
	}
	return "", 0
}
