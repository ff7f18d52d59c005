package fs

import (
	"context"

	"tpmfs/measurelog"
	"tpmfs/tpmcore"
	"tpmfs/tpmcore/attest"
	"tpmfs/vault"
)

// The small interfaces fs needs of the layers below; the program passes
// tpmcore.Core and vault.Vault, tests pass fakes.

// TPM is what the fixed files need: identity, PCRs and random bytes
// (tpmcore.Core).
type TPM interface {
	Info() tpmcore.Info
	Banks() []tpmcore.Bank
	Bank(name string) (tpmcore.Bank, bool)
	DefaultBank() tpmcore.Bank
	CanExtend(idx int) bool
	ReadPCR(ctx context.Context, b tpmcore.Bank, idx int) ([]byte, error)
	Extend(ctx context.Context, b tpmcore.Bank, idx int, digest []byte) error
	Measure(ctx context.Context, idx int, data []byte) error
	Random(ctx context.Context, dest []byte) error
	// Status is what the core has seen since it started (status file).
	Status() tpmcore.Status
}

// RawClient is one open of tpmrm0 (tpmcore.Client): it checks each write
// as the kernel's tpmrm0 does and keeps the response until it is read.
type RawClient interface {
	Write(ctx context.Context, cmd []byte) (int, error)
	Read(dest []byte) int
	Close() error
}

// Objects is the sealed-object service behind seal/ (vault.Vault).
type Objects interface {
	List() ([]string, error)
	Lookup(name string) (vault.Info, error)
	Stat(ref vault.Ref) (vault.Info, error)
	Create(c vault.Caller, name string, mode, gid uint32) (vault.Info, error)
	Remove(name string) error
	SetAttr(ref vault.Ref, ch vault.AttrChange) (vault.Info, error)
	OpenRead(ctx context.Context, c vault.Caller, ref vault.Ref, p vault.Part) (vault.Reader, error)
	OpenWrite(ctx context.Context, c vault.Caller, ref vault.Ref, p vault.Part) (vault.Writer, error)
	Truncate(ctx context.Context, c vault.Caller, ref vault.Ref, p vault.Part) error
	// Usage is what each user keeps (status file).
	Usage() []vault.Usage
}

// EK is what ek/ serves (tpmcore.Core): the EK certificates found in NV
// and the public keys they certify.
type EK interface {
	EKCerts() []tpmcore.EKCert
	EKCertificate(ctx context.Context, index uint32) ([]byte, error)
	EKPublic(ctx context.Context, index uint32) ([]byte, error)
}

// NV is what nv/ serves (tpmcore.Core): NV indices by type, authorised
// by owner (asOwner) where the index allows it, else by its empty auth
// value.
type NV interface {
	NVBuffer() int
	NVList(ctx context.Context) ([]uint32, error)
	NVPublic(ctx context.Context, index uint32) (tpmcore.NVPublic, error)
	NVRead(ctx context.Context, want tpmcore.NVPublic, asOwner bool) ([]byte, error)
	NVWrite(ctx context.Context, want tpmcore.NVPublic, asOwner bool, off int, data []byte) error
	NVIncrement(ctx context.Context, want tpmcore.NVPublic, asOwner bool) error
	NVExtend(ctx context.Context, want tpmcore.NVPublic, asOwner bool, data []byte) error
	NVSetBits(ctx context.Context, want tpmcore.NVPublic, asOwner bool, bits uint64) error
	NVDefine(ctx context.Context, index uint32, size int) error
	NVUndefine(ctx context.Context, want tpmcore.NVPublic) error
}

// AKs is the attestation-key service behind ak/ (vault.AKs).
type AKs interface {
	List() ([]string, error)
	Lookup(name string) (vault.AKInfo, error)
	Stat(ref vault.Ref) (vault.AKInfo, error)
	Create(c vault.Caller, name string, mode, gid uint32) (vault.AKInfo, error)
	Remove(name string) error
	SetAttr(ref vault.Ref, ch vault.AttrChange) (vault.AKInfo, error)
	SetType(ref vault.Ref, typ string) error
	Public(ctx context.Context, ref vault.Ref) (*attest.AKPublic, error)
	Quote(ctx context.Context, ref vault.Ref, sel tpmcore.Selection, nonce []byte) (*tpmcore.Quote, error)
	Activate(ctx context.Context, ref vault.Ref, cred []byte) ([]byte, error)
}

// EventLogs are the logs under eventlog/ (measurelog.Logs): tpmfs's own
// ("tpmfs"), the kernel's (Kernel), and their replay (Verify).
type EventLogs interface {
	// Kernel lists the kernel's logs present: "firmware",
	// "ima-ascii", "ima-binary".
	Kernel() []string
	// Open returns log name as it is now, fixed for the open's life.
	Open(ctx context.Context, name string) (measurelog.Snapshot, error)
	// Size is log name's length now.
	Size(name string) (int64, error)
	// Verify renders the replay of the logs against the PCRs.
	Verify(ctx context.Context) ([]byte, error)
	// CheckRoom reports whether an extend can be recorded now (the
	// state directory's room and write access).
	CheckRoom() error
}

// Backend is what a tree is served from.
type Backend struct {
	TPM TPM
	// OpenRaw opens a raw command channel for tpmrm0 on behalf of uid,
	// whom the resource manager holds to rm_policy= and rm_quota=.
	OpenRaw func(uid uint32) (RawClient, error)
	Objects Objects
	// EK, NV and AKs serve ek/, nv/ and ak/; a nil one leaves its
	// directory out (a TPM 1.2 has none of them).
	EK  EK
	NV  NV
	AKs AKs
	// Logs serve eventlog/; nil: no eventlog/.
	Logs EventLogs
}
