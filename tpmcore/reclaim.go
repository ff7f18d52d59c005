package tpmcore

import (
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// maxReclaims bounds how many session handles one command of a core
// operation takes back from raw clients; a seal or unseal needs one.
const maxReclaims = 4

// reclaiming wraps a core operation's job (seal, unseal, reseal) so that
// when the TPM has no session handle left for it (TPM_RC_SESSION_HANDLES:
// raw clients' sessions, saved and abandoned, hold them all) the resource
// manager frees one (rm.Manager.Reclaim) and the command is sent again: no
// raw client can make tpmfs's own sealing fail.
func (f *family20) reclaiming(fn func(t transport.TPM) error) func(t transport.TPM) error {
	return func(t transport.TPM) error {
		// f.rm is only written by a job on the queue's worker, where this
		// runs too, so it is read without rmMu (which manager() holds
		// while it waits for the queue).
		if f.rm == nil {
			return fn(t) // no raw client was ever opened
		}
		return fn(&reclaimer{f: f, t: t})
	}
}

type reclaimer struct {
	f *family20
	t transport.TPM
}

func (r *reclaimer) Send(cmd []byte) ([]byte, error) {
	for try := 0; ; try++ {
		rsp, err := r.t.Send(cmd)
		if err != nil || try == maxReclaims || responseCode(rsp) != tpm2.TPMRCSessionHandles {
			return rsp, err
		}
		freed, err := r.f.rm.Reclaim(r.t)
		if err != nil {
			return nil, err
		}
		if !freed {
			return rsp, nil
		}
		r.f.c.log.Debug("took a session handle back from raw tpmrm0 clients for a seal operation")
	}
}
