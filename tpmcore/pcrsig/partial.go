package pcrsig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The Partial functions judge a file while it is being written, so that a
// writer hears of a mistake at write(2), where a shell reports it, rather
// than at close, whose errors shells ignore. complete says the text is a
// whole key or policy set (then it was parsed in full, and err is its
// verdict); err without complete says no continuation can make the text
// valid.

// KeyPartial judges the text of an authkey being written.
func KeyPartial(text []byte) (complete bool, err error) {
	begin := []byte("-----BEGIN " + pemType + "-----")
	t := bytes.TrimLeft(text, space)
	n := min(len(t), len(begin))
	if !bytes.Equal(t[:n], begin[:n]) {
		return false, fmt.Errorf("%w: want a PEM public key (-----BEGIN %s-----)", ErrInvalid, pemType)
	}
	end := []byte("-----END " + pemType + "-----")
	i := bytes.Index(t, end)
	if i < 0 || !bytes.Contains(t[i:], []byte("\n")) {
		return false, nil // the END line is not whole yet
	}
	_, err = ParseKey(text)
	return true, err
}

// Partial judges the text of a pcrsig being written.
func Partial(text []byte) (complete bool, err error) {
	if len(text) > MaxText {
		return false, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(text), MaxText)
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	var v json.RawMessage
	switch err := dec.Decode(&v); {
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, fmt.Errorf("%w: more after the JSON object: one object only", ErrInvalid)
	}
	_, err = Parse(text)
	return true, err
}
