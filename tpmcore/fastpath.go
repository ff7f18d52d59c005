package tpmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
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

// rspReader reads a response's fields; any overrun marks it bad, and the
// caller checks once at the end.
type rspReader struct {
	b   []byte
	bad bool
}

func (r *rspReader) take(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *rspReader) u8() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *rspReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *rspReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// responseBody checks the header of a response to a command sent without
// sessions and returns its parameters, or the TPM's response code as the
// error go-tpm would return.
func responseBody(rsp []byte) ([]byte, error) {
	r := rspReader{b: rsp}
	tag, size, rc := r.u16(), r.u32(), r.u32()
	switch {
	case r.bad || int64(size) != int64(len(rsp)):
		return nil, errMalformed
	case rc != uint32(tpm2.TPMRCSuccess):
		return nil, tpm2.TPMRC(rc)
	case tag != uint16(tpm2.TPMSTNoSessions):
		return nil, errMalformed
	}
	return r.b, nil
}

// parseGetRandom returns the random bytes of a GetRandom response (a
// subslice of rsp).
func parseGetRandom(rsp []byte) ([]byte, error) {
	body, err := responseBody(rsp)
	if err != nil {
		return nil, err
	}
	r := rspReader{b: body}
	out := r.take(int(r.u16()))
	if r.bad || len(r.b) != 0 {
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
	r := rspReader{b: body}
	r.u32()
	nsel := r.u32()
	sels := r.b
	for i := uint32(0); i < nsel && !r.bad; i++ {
		r.u16()
		r.take(int(r.u8()))
	}
	if r.bad {
		return errMalformed
	}
	sels = sels[:len(sels)-len(r.b)]
	ndig := r.u32()
	if r.bad {
		return errMalformed
	}
	digests := rspReader{b: r.b}
	s := rspReader{b: sels}
	seen := uint32(0)
	for i := uint32(0); i < nsel; i++ {
		alg := tpm2.TPMIAlgHash(s.u16())
		mask := s.take(int(s.u8()))
		for pcr := 0; pcr < 8*len(mask); pcr++ {
			if mask[pcr/8]&(1<<(pcr%8)) == 0 {
				continue
			}
			if seen++; seen > ndig {
				return fmt.Errorf("%w: PCR_Read returned fewer digests than selected", ErrUnavailable)
			}
			d := digests.take(int(digests.u16()))
			if digests.bad {
				return errMalformed
			}
			fn(alg, pcr, d)
		}
	}
	if seen != ndig || len(digests.b) != 0 {
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
