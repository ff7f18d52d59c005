// Package vault is the lifecycle of the sealed objects users keep under
// seal/: their identity and inode numbers, a lock per object, per-user
// quotas, and sealing, unsealing and resealing through the TPM.
//
// It promises the file layer (fs) four things. A handle belongs to an
// object, not to its name: once the object is removed or replaced, the
// handle fails with ErrStale and never reaches a later object of that
// name. A writer changes nothing until it commits, and a commit replaces
// the whole content at once, so readers see the whole old or the whole
// new secret and a refused write leaves selection, policy and data as they
// were. What can be checked early (read-only mount, quota, a state
// directory with room, a TPM that can seal, a valid selection) fails when
// the writer opens or writes, where shells see it. Plaintext is held once
// per object version, shared by its readers and wiped when the last one
// closes; a writer's buffer is wiped when it closes.
//
// Attestation keys (ak/, AKs) are a second namespace of the same
// service: the same identities, inode numbers, locks and seal_quota=
// count of objects, and the same promise about handles; a key is made in
// the TPM on its first use, under its lock.
//
// It keeps records in a sealstore.Store and seals through a TPM (tpmcore);
// it knows neither FUSE nor errno: its errors wrap its own sentinels
// (ErrStale, ErrQuota, ...) or tpmcore's and sealstore's, and fs maps them.
package vault
