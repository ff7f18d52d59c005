package fs

import "context"

// tpmContext is the context for a TPM operation on behalf of a FUSE
// request: it keeps the request's values (the caller) but not its
// cancellation. The kernel interrupts a request whenever the calling
// thread gets any signal, which Go programs do all the time (the runtime
// preempts goroutines with signals); giving up would turn that into EIO,
// and a command may already have run in the TPM (a writer that retried an
// extend would extend twice). tpmcore bounds every operation in time.
func tpmContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
