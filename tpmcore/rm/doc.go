// Package rm is the resource manager: it lets many raw clients share one
// TPM 2.0, each in its own Space, none able to see, use or flush another's
// transient objects and sessions.
//
// It is the kernel's /dev/tpmrm0 (drivers/char/tpm/tpm2-space.c) in user
// space, in the same three steps around each command: prepare (load the
// contexts the command names, translate virtual handles), transmit,
// commit (give new objects virtual handles, filter
// GetCapability(TPM_CAP_HANDLES)). How many handles a command carries
// comes from the TPM (TPM_CAP_COMMANDS), not from a table here. Beyond the
// kernel:
//   - it swaps lazily (resident.go): the kernel saves and flushes
//     everything after every command, which on a discrete TPM costs a
//     ContextSave (~20 ms) and a ContextLoad (~37 ms) per context and
//     command; here what a command used stays loaded until another
//     command needs its slot (least recently used goes first) or its
//     space closes. What clients can observe stays the kernel's: they see
//     virtual handles and their own lists, and GetCapability of the
//     variable properties (loaded sessions, free object slots) is answered
//     with everything swapped out;
//   - only what a command names is loaded, so a space holds MaxObjects
//     objects while the TPM has room for three;
//   - FlushContext of a virtual handle is translated, and refused for
//     anyone else's handle, sessions included;
//   - TPM_RC_CONTEXT_GAP is handled by saving the oldest session again;
//   - sessions a client saved itself (ContextSave, as tpm2-tools do between
//     processes) outlive its space like with the kernel, but count against
//     the space and its uid until flushed or loaded again, and are flushed,
//     oldest first, when the TPM runs out of session handles (for a client,
//     or for the caller's own operations through Reclaim) or they block
//     the context counter, so clients cannot exhaust the TPM's sessions;
//   - each space belongs to a uid; for uids that are not admins the
//     manager applies a command policy (package cmdpolicy) and a per-uid
//     quota of objects, sessions and open spaces (Rules), answering past
//     it with the TPM's own OBJECT_MEMORY or SESSION_MEMORY.
//
// Sessions keep their real handles; objects get virtual ones. A client's
// ContextSave of an object returns the TPM's own context of it, which any
// client may ContextLoad later and gets under a virtual handle of its own.
//
// The package must not own the connection or serialise callers: the caller
// (tpmcore's queue) gives each call exclusive use of the TPM and retries
// TPM_RC_RETRY/YIELDED/TESTING below it. The caller's own keys and
// sessions go through an internal space (NewInternalSpace), so that one
// manager decides who holds the TPM's slots; what it loads outside that
// space it must flush, and it must leave the manager's residents
// (Resident) alone, and tell it of a TPM reset (Reset).
//
// It never crashes on client input: malformed or unknown commands,
// foreign handles and quota overruns get TPM-format error responses
// tagged with RMLayer.
package rm
