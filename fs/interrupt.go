package fs

import (
	"context"

	"github.com/hanwen/go-fuse/v2/fuse"

	"tpmfs/tpmcore"
)

// tpmContext is the context for a TPM operation on behalf of a FUSE
// request: it keeps the request's values (the caller) but not its
// cancellation. The kernel interrupts a request whenever the calling
// thread gets any signal, which Go programs do all the time (the runtime
// preempts goroutines with signals); giving up would turn that into EIO,
// and a command may already have run in the TPM (a writer that retried an
// extend would extend twice). tpmcore bounds every operation in time.
func tpmContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// callerContext is tpmContext with the caller's uid, which the event
// log records: for extends, not for every read (it costs an allocation).
func callerContext(ctx context.Context) context.Context {
	ctx = tpmContext(ctx)
	if caller, ok := fuse.FromContext(ctx); ok {
		ctx = tpmcore.WithCaller(ctx, caller.Uid)
	}
	return ctx
}
