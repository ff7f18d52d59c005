// Package measurelog serves the measurement logs of a mount: tpmfs's own
// log of every extend made through it, the kernel's logs, and the replay
// of both against the TPM's PCRs.
//
// tpmfs's log (Journal) is a tpmcore.Recorder: the record of an extend is
// made durable as pending before the extend is sent, in the same queue
// job, and appended to the log once the extend is known to have been
// made, so the log never holds an extend the TPM did not make, nor
// lacks one it did, whatever crashes in between (see tpmcore's
// record.go). It is kept in the state directory (docs/state-format.md)
// in the files sealstore opens for it, one log per boot of the TPM, the
// previous one kept; each file is fsync'ed before the call that changed
// it returns.
//
// The kernel's logs (Kernel) are read from eventlog_dir= and handed out
// as snapshots: each open sees the log as it was when opened, however it
// grows meanwhile. Snapshots of a growing log share its bytes.
//
// It must not send TPM commands of its own (it asks tpmcore) or
// interpret event data beyond what replay needs (package eventlog), and
// it never maps errors to errno: its errors wrap the system's (ENOSPC,
// EROFS) where those are the cause, and fs decides.
package measurelog
