package vault

import (
	"context"
	"encoding/hex"
	"time"

	"tpmfs/sealstore"
	"tpmfs/tpmcore"
)

// MaxSecret is the largest secret an object holds.
const MaxSecret = tpmcore.MaxSecret

// maxSelectionText bounds what a writer may put in pcrs: a selection of
// every PCR of every bank is far shorter.
const maxSelectionText = sealstore.MaxSelectionLen

// ValidName reports whether name may name an object (ErrInvalidName).
func ValidName(name string) error { return sealstore.ValidName(name) }

// Caller is who asks: the uid pays quotas, root is unlimited.
type Caller struct{ UID, GID uint32 }

func (c Caller) limited() bool { return c.UID != 0 }

// Ref names one object for its whole life: a handle holds it, and it
// stops working when the object is removed or replaced.
type Ref struct {
	Name string
	ID   string // "" for a damaged object
}

// Part is one file of an object.
type Part int

const (
	Data    Part = iota // the secret
	PCRs                // the PCR spec, tpm2-tools syntax with given values
	Policy              // the policy digest, hex (read-only)
	AuthKey             // the PEM public key that signs PCR policies (TPM 2.0)
	PCRSig              // the signed PCR policies, systemd's JSON (TPM 2.0)
	Status              // why it opens or not, computed at open (read-only)
)

func (p Part) String() string {
	return [...]string{"data", "pcrs", "policy", "authkey", "pcrsig", "status"}[p]
}

// Writable reports whether the part takes writes; policy and status are
// derived from the others.
func (p Part) Writable() bool { return p != Policy && p != Status }

// Signed reports whether the part is about signed PCR policies, which
// only a TPM 2.0 has.
func (p Part) Signed() bool { return p == AuthKey || p == PCRSig }

// Info is what stat shows of an object.
type Info struct {
	Ref
	Ino            uint64 // unique while mounted; never reused for another object
	UID, GID, Mode uint32
	Selection      string // canonical PCR spec; "" for none
	Policy         []byte // policy digest of the sealed data; empty without data, PCRs or authkey
	AuthKey        *tpmcore.AuthKey
	Signatures     *tpmcore.Signatures // nil: none
	Size           int64               // the secret's size; 0 without data
	HasData        bool
	Modified       time.Time
	// Damaged is why the object's state file cannot be used; only its
	// removal works then. The object shows as root's, mode 0700.
	Damaged error
}

// Text is the content of a text part (pcrs, policy, authkey, pcrsig):
// what cat shows.
func (i Info) Text(p Part) []byte {
	switch {
	case p == PCRs && i.Selection != "":
		return []byte(i.Selection + "\n")
	case p == Policy && len(i.Policy) > 0:
		return []byte(hexLine(i.Policy))
	case p == AuthKey && i.AuthKey != nil:
		return i.AuthKey.PEM()
	case p == PCRSig:
		return i.Signatures.Text()
	}
	return []byte{}
}

// PartSize is the size stat shows for part p; 0 for status, which is
// made when it is opened.
func (i Info) PartSize(p Part) int64 {
	switch p {
	case Data:
		return i.Size
	case Status:
		return 0
	}
	return int64(len(i.Text(p)))
}

// AttrChange is a chmod or chown: nil fields stay.
type AttrChange struct {
	Mode     *uint32
	UID, GID *uint32
}

// Reader is an open view of one part of an object, taken at open: the
// unsealed secret of one version, or the text of pcrs or policy.
type Reader interface {
	// Bytes is the content; ErrStale once the object is gone.
	Bytes() ([]byte, error)
	// Close releases the view; the last reader of a version wipes it.
	Close()
}

// Writer collects a new content for one part of an object and commits it
// whole, replacing the old at once.
type Writer interface {
	// WriteAt places data at off in the new content. A refused write
	// (too large, quota, no room, invalid selection) fails the writer:
	// it never commits.
	WriteAt(ctx context.Context, data []byte, off int64) error
	// Bytes is the new content so far (the current one, if nothing was
	// written yet), for reads through the same handle.
	Bytes(ctx context.Context) ([]byte, error)
	// Truncate empties the new content (open with O_TRUNC, truncate -s 0).
	Truncate() error
	// Flush commits what was written since the last commit, if anything:
	// a close after writes. A close with nothing written commits nothing,
	// so a shell's dup'd close after open(O_TRUNC) seals no empty secret.
	Flush(ctx context.Context) error
	// Close commits a truncation that no write followed (": > data"),
	// then wipes and releases the writer.
	Close(ctx context.Context) error
	// Fresh reports whether nothing was written or truncated yet.
	Fresh() bool
}

func hexLine(b []byte) string { return hex.EncodeToString(b) + "\n" }
