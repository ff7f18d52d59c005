package tpm12

import (
	"fmt"

	"github.com/google/go-tpm/tpm"
	"github.com/google/go-tpm/tpm2/transport"
)

// randomChunk is how much one TPM_GetRandom asks for; TPMs may return
// less than asked, and small requests keep each command short.
const randomChunk = 128

// maxShortRandoms bounds consecutive empty TPM_GetRandom answers before
// Random gives up, so a broken TPM cannot spin it forever.
const maxShortRandoms = 8

// Random fills p with bytes from the TPM's RNG (TPM_GetRandom), in as
// many commands as it takes.
func Random(t transport.TPM, p []byte) error {
	empty := 0
	for done := 0; done < len(p); {
		n := min(len(p)-done, randomChunk)
		c := newConn(t)
		b, err := tpm.GetRandom(c, uint32(n))
		if err != nil {
			return c.fail(fmt.Sprintf("get %d random bytes", n), err)
		}
		if len(b) > n {
			return fmt.Errorf("get %d random bytes: TPM returned %d", n, len(b))
		}
		if len(b) == 0 {
			if empty++; empty > maxShortRandoms {
				return fmt.Errorf("get %d random bytes: TPM keeps returning none", n)
			}
			continue
		}
		empty = 0
		done += copy(p[done:], b)
	}
	return nil
}
