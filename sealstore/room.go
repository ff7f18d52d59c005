package sealstore

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// EncodedSize is about how many bytes a state file holding a secret of
// secretLen bytes takes: the ciphertext (secret and GCM tag) in base64,
// plus a few KiB for the TPM blobs, PCR values and the JSON around them.
func EncodedSize(secretLen int) int64 {
	return 4*(int64(secretLen)+16+2)/3 + 8<<10
}

// CheckRoom reports whether a Save of about need bytes can succeed now:
// the state directory is on a writable file system, writable by tpmfs,
// and has the space and a free inode for the temp file. Its errors wrap
// unix.EROFS, unix.EACCES or unix.ENOSPC. It is a check made early, where
// a writer sees its error; a Save can still fail later (another writer
// took the space).
func (s *Store) CheckRoom(need int64) error {
	fd, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	fsi, err := statFS(fd)
	if err != nil {
		return fmt.Errorf("state dir %s: statfs: %w", s.dir, err)
	}
	if fsi.readOnly {
		return fmt.Errorf("state dir %s: %w: on a read-only file system", s.dir, unix.EROFS)
	}
	if err := unix.Faccessat(fd, ".", unix.W_OK, 0); err != nil {
		return fmt.Errorf("state dir %s: not writable: %w", s.dir, err)
	}
	if fsi.free < need {
		return fmt.Errorf("state dir %s: %w: %d bytes free, a save needs about %d", s.dir, unix.ENOSPC, fsi.free, need)
	}
	if fsi.noInodes {
		return fmt.Errorf("state dir %s: %w: no free inode", s.dir, unix.ENOSPC)
	}
	return nil
}

// fsInfo is what CheckRoom needs of statfs(2), whose fields differ by OS.
type fsInfo struct {
	readOnly bool
	free     int64 // bytes available to tpmfs's user
	noInodes bool
}
