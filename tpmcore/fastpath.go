package tpmcore

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"tpmfs/internal/tpmwire"
)

// The hot paths: PCR_Read and GetRandom run thousands of times a second.
// go-tpm marshals by reflection, which costs about as much CPU as swtpm
// takes to answer and some 100–150 allocations per command. For these two
// commands go-tpm still builds the command bytes, once, from its typed
// structs; tpmcore keeps them and reads the (short, fixed-shape) responses
// itself, without allocating.

// errNotSent stops go-tpm once it has handed over the command bytes.
var errNotSent = errors.New("command captured, not sent")

// captureTPM is a transport that keeps the command and sends nothing.
type captureTPM struct{ cmd []byte }

func (c *captureTPM) Send(cmd []byte) ([]byte, error) {
	c.cmd = bytes.Clone(cmd)
	return nil, errNotSent
}

// goTPMCommand returns the bytes go-tpm marshals when exec runs a command.
func goTPMCommand(exec func(t transport.TPM)) []byte {
	var c captureTPM
	exec(&c)
	return c.cmd
}

// errMalformed: a response that does not have the shape of its command's.
var errMalformed = fmt.Errorf("%w: malformed response", ErrUnavailable)

// responseBody checks the header of a response to a command sent without
// sessions and returns its parameters, or the TPM's response code as the
// error go-tpm would return.
func responseBody(rsp []byte) ([]byte, error) {
	h, ok := tpmwire.ParseHeader(rsp)
	switch {
	case !ok || int64(h.Size) != int64(len(rsp)):
		return nil, errMalformed
	case h.Code != uint32(tpm2.TPMRCSuccess):
		return nil, tpm2.TPMRC(h.Code)
	case h.Tag != uint16(tpm2.TPMSTNoSessions):
		return nil, errMalformed
	}
	return rsp[tpmwire.HeaderSize:], nil
}

// parseGetRandom returns the random bytes of a GetRandom response (a
// subslice of rsp).
func parseGetRandom(rsp []byte) ([]byte, error) {
	body, err := responseBody(rsp)
	if err != nil {
		return nil, err
	}
	r := tpmwire.NewReader(body)
	out := r.Sized2B()
	if r.Done() != nil {
		return nil, errMalformed
	}
	return out, nil
}

// parsePCRRead calls fn with each digest of a PCR_Read response (a
// subslice of rsp) and the bank and PCR it belongs to, in order.
func parsePCRRead(rsp []byte, fn func(alg tpm2.TPMIAlgHash, pcr int, digest []byte)) error {
	body, err := responseBody(rsp)
	if err != nil {
		return err
	}
	// pcrUpdateCounter, TPML_PCR_SELECTION pcrSelectionOut, TPML_DIGEST
	// pcrValues: find where the digests start, then walk both lists.
	r := tpmwire.NewReader(body)
	r.U32()
	nsel := r.U32()
	sels := r.Rest()
	for i := uint32(0); i < nsel && r.Err() == nil; i++ {
		r.U16()
		r.Take(int(r.U8()))
	}
	if r.Err() != nil {
		return errMalformed
	}
	sels = sels[:len(sels)-r.Len()]
	ndig := r.U32()
	if r.Err() != nil {
		return errMalformed
	}
	digests := tpmwire.NewReader(r.Rest())
	s := tpmwire.NewReader(sels)
	seen := uint32(0)
	for i := uint32(0); i < nsel; i++ {
		alg := tpm2.TPMIAlgHash(s.U16())
		mask := s.Take(int(s.U8()))
		for pcr := 0; pcr < 8*len(mask); pcr++ {
			if mask[pcr/8]&(1<<(pcr%8)) == 0 {
				continue
			}
			if seen++; seen > ndig {
				return fmt.Errorf("%w: PCR_Read returned fewer digests than selected", ErrUnavailable)
			}
			d := digests.Sized2B()
			if digests.Err() != nil {
				return errMalformed
			}
			fn(alg, pcr, d)
		}
	}
	if seen != ndig || digests.Len() != 0 {
		return errMalformed
	}
	return nil
}

// cmdCache keeps command bytes built by go-tpm, keyed by what varies.
type cmdCache[K comparable] struct {
	mu  sync.Mutex
	m   map[K][]byte
	max int // entries kept; a full cache starts over
}

func (c *cmdCache[K]) get(k K, build func() []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd, ok := c.m[k]; ok {
		return cmd
	}
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[K][]byte)
	}
	cmd := build()
	c.m[k] = cmd
	return cmd
}

// getRandomCmds: one command per size asked for (at most TPM_PT_MAX_DIGEST
// sizes in practice).
var getRandomCmds = cmdCache[uint16]{max: 256}

func getRandomCommand(n uint16) []byte {
	return getRandomCmds.get(n, func() []byte {
		return goTPMCommand(func(t transport.TPM) { tpm2.GetRandom{BytesRequested: n}.Execute(t) })
	})
}
