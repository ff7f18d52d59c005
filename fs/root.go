package fs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"tpmfs/tpmcore"
)

// Options are the mount options fs needs (see mountopts for their source).
type Options struct {
	ReadOnly bool
	UID, GID uint32
	// Permission bits (<= 07777) of the fixed files.
	PCRMode, RandomMode, SealMode, DeviceMode uint32
	// EKMode is the mode of ek/'s files, AKMode of ak/, NVMode the cap
	// on nv/'s files, whose modes follow each index's attributes.
	EKMode, AKMode, NVMode uint32
	// LogMode is the mode of eventlog/*.
	LogMode uint32
	// Bank is the bank shown by pcrs/NN; empty means the TPM's default.
	Bank string
	Log  *logrus.Entry
}

// Root is the mount's root directory.
type Root struct {
	gofs.Inode
	noRemove
	tpm     TPM
	openRaw func(uid uint32) (RawClient, error)
	objects Objects
	ek      EK
	nv      NV
	aks     AKs
	logs    EventLogs
	opts    Options
	log     *logrus.Entry
	bank    tpmcore.Bank // default bank
	mounted time.Time
}

var _ = (gofs.NodeOnAdder)((*Root)(nil))
var _ = (gofs.NodeGetattrer)((*Root)(nil))
var _ = (gofs.NodeSetattrer)((*Root)(nil))

// dirMode is the mode of the directories no option sets: the root, pcrs/
// and pcrs/<bank>/.
const dirMode = 0o755

// New returns the root of a tree served from b. It fails if the options
// name a bank the TPM does not have.
func New(b Backend, opts Options) (*Root, error) {
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	r := &Root{tpm: b.TPM, openRaw: b.OpenRaw, objects: b.Objects, ek: b.EK, nv: b.NV, aks: b.AKs, logs: b.Logs,
		opts: opts, log: opts.Log, mounted: time.Now()}
	r.noRemove.root = r
	r.bank = b.TPM.DefaultBank()
	if opts.Bank != "" {
		bank, ok := b.TPM.Bank(opts.Bank)
		if !ok {
			return nil, fmt.Errorf("bank=%s: %w: the TPM has no active %s bank (active: %v)",
				opts.Bank, tpmcore.ErrInvalid, opts.Bank, b.TPM.Info().Banks)
		}
		r.bank = bank
	}
	return r, nil
}

// OnAdd builds the fixed skeleton once.
func (r *Root) OnAdd(ctx context.Context) {
	r.AddChild("info", r.NewPersistentInode(ctx, r.newInfoFile(), gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	r.AddChild("status", r.NewPersistentInode(ctx, &statusFile{fixed: r.fixed(0o444, "")}, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	r.AddChild("random", r.NewPersistentInode(ctx, &randomFile{fixed: r.fixed(r.opts.RandomMode, "random_mode")}, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	r.AddChild("pcrs", r.newPCRDir(ctx), false)
	r.AddChild("tpmrm0", r.NewPersistentInode(ctx, &deviceFile{fixed: r.fixed(r.opts.DeviceMode, "device_mode")}, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	r.AddChild("seal", r.NewPersistentInode(ctx, r.newSealDir(), gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
	if r.ek != nil {
		r.AddChild("ek", r.newEKDir(ctx), false)
	}
	if r.aks != nil {
		r.AddChild("ak", r.NewPersistentInode(ctx, r.newAKDir(), gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
	}
	if r.nv != nil {
		nv := &nvDir{fixed: r.fixed(dirMode, "")}
		r.AddChild("nv", r.NewPersistentInode(ctx, nv, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
	}
	if r.logs != nil {
		r.AddChild("eventlog", r.newEventlogDir(ctx), false)
	}
}

func (r *Root) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.fillDirAttr(&out.Attr, dirMode)
	out.SetTimeout(fixedTimeout)
	return 0
}

// fixedTimeout is how long the kernel may keep entries and attributes of
// the fixed skeleton (the root's children, pcrs/**): they do not change
// while mounted, so a cold `cat pcrs/sha256/00` costs no LOOKUP or
// GETATTR round trips for the path. Values never come from the cache:
// volatile files are opened with direct I/O.
const fixedTimeout = time.Hour

var _ = (gofs.NodeLookuper)((*Root)(nil))

// Lookup answers from the fixed children, with fixedTimeout.
func (r *Root) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return lookupFixed(ctx, &r.Inode, name, out)
}

// lookupFixed finds name among dir's fixed children and fills out with
// its attributes, cacheable for fixedTimeout.
func lookupFixed(ctx context.Context, dir *gofs.Inode, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ch := dir.GetChild(name)
	if ch == nil {
		return nil, syscall.ENOENT
	}
	if ga, ok := ch.Operations().(gofs.NodeGetattrer); ok {
		var a fuse.AttrOut
		if e := ga.Getattr(ctx, nil, &a); e != 0 {
			return nil, e
		}
		out.Attr = a.Attr
	}
	out.SetEntryTimeout(fixedTimeout)
	out.SetAttrTimeout(fixedTimeout)
	return ch, 0
}

// Setattr refuses chmod and chown of the root, as of every fixed node.
func (r *Root) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := r.refuseOwnerMode(ctx, &r.Inode, in, "", dirMode); e != 0 {
		return e
	}
	r.fillDirAttr(&out.Attr, dirMode)
	return 0
}

// fillDirAttr fills the attributes of a fixed directory. One link is
// what tools such as find read as "subdirectories not counted" (btrfs
// does the same); zero would mean a deleted directory.
func (r *Root) fillDirAttr(a *fuse.Attr, mode uint32) {
	a.Mode = syscall.S_IFDIR | mode
	a.Uid, a.Gid = r.opts.UID, r.opts.GID
	a.Nlink = 1
	r.fillTimes(a)
}

func (r *Root) fillTimes(a *fuse.Attr) {
	a.SetTimes(&r.mounted, &r.mounted, &r.mounted)
}

// writable is the one guard of every change: on a read-only mount it
// refuses (EROFS) and logs what was refused.
func (r *Root) writable(ctx context.Context, fields logrus.Fields) syscall.Errno {
	if r.opts.ReadOnly {
		return r.errno(ctx, errReadOnly, fields)
	}
	return 0
}
