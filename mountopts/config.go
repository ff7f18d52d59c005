package mountopts

import "tpmfs/tddl"

// Config is a parsed and validated mount configuration.
type Config struct {
	Source     string      // SOURCE as given
	TPM        tddl.Config // SOURCE parsed by tddl.ParseSource
	AllowOther bool
	ReadOnly   bool
	NoExec     bool // noexec: honoured, unlike the other VFS flags
	// DefaultPermissions: the option was given. tpmfs always sets it;
	// a mount point /dev/fd/N that mount.fuse3 mounted must have had it.
	DefaultPermissions bool
	UID, GID           uint32
	// Permission bits, sticky/setgid/setuid included; always <= 07777.
	PCRMode, RandomMode, SealMode, DeviceMode uint32
	StateDir                                  string   // absolute and clean
	Bank                                      string   // "" = the TPM's default; else one of Banks
	SRKAuth                                   SRKAuth  // secret for the storage hierarchy
	FSName                                    string   // default: Source
	Subtype                                   string   // default: "tpmfs"
	Ignored                                   []string // compatibility options accepted and ignored, as given
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

// Banks lists the values bank= accepts, in the spelling of tpm2-tools.
var Banks = []string{"sha1", "sha256", "sha384", "sha512", "sm3_256"}

// Defaults of DESIGN.md's option table.
const (
	DefaultPCRMode    = 0o644
	DefaultRandomMode = 0o444
	DefaultSealMode   = 0o755
	DefaultDeviceMode = 0o600
	DefaultSubtype    = "tpmfs"
	RootStateDir      = "/var/lib/tpmfs"
	maxMode           = 0o7777
)
