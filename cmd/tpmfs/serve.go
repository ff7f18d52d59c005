package main

import (
	"context"
	"errors"

	"tpmfs/mountopts"
)

// serve opens the TPM, mounts the tree and blocks until unmounted or ctx ends.
// ready is called once the mount is visible.
// PLACEHOLDER: replaced by the mount code.
func serve(ctx context.Context, cfg *mountopts.Config, ready func() error) error {
	return errors.New("serve: not wired yet")
}
