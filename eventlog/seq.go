package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// RS starts every element of a JSON text sequence (RFC 7464); LF ends it.
const RS = 0x1e

// ErrTruncated: the last element of a sequence has no LF: its writer was
// interrupted. RFC 7464 has readers drop such an element.
var ErrTruncated = fmt.Errorf("%w: last record truncated", ErrInvalid)

// MarshalSeq returns r as one element of a JSON text sequence: RS, the
// record's JSON, LF. r must pass Check.
func MarshalSeq(r *Record) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if r.Digests == nil {
		r.Digests = []Digest{}
	}
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: record %d: %w", ErrInvalid, r.Recnum, err)
	}
	out := make([]byte, 0, len(js)+2)
	out = append(out, RS)
	out = append(out, js...)
	return append(out, '\n'), nil
}

// ParseSeq parses a JSON text sequence of records strictly: each element
// is RS, one JSON object that passes Record.Check with no unknown field,
// and LF. It returns the records before the first bad element, how many
// bytes of data they span, and what is wrong with that element (nil if
// none is): ErrTruncated if it is the last one and lacks its LF.
func ParseSeq(data []byte) (recs []Record, good int, err error) {
	good, err = scanSeq(data, func(r *Record) error {
		recs = append(recs, *r)
		return nil
	})
	return recs, good, err
}

// scanSeq parses the elements of data in order and hands each record to
// fn; it stops at the first element that does not parse or that fn
// refuses, and returns the bytes before it and the error.
func scanSeq(data []byte, fn func(r *Record) error) (good int, err error) {
	for good < len(data) {
		if data[good] != RS {
			return good, fmt.Errorf("%w: byte %d: no RS before a record", ErrInvalid, good)
		}
		elem := data[good+1:]
		end := bytes.IndexByte(elem, RS)
		if end < 0 {
			end = len(elem)
		}
		elem = elem[:end]
		if len(elem) == 0 || elem[len(elem)-1] != '\n' {
			if good+1+end == len(data) {
				return good, fmt.Errorf("byte %d: %w", good, ErrTruncated)
			}
			return good, fmt.Errorf("%w: byte %d: record without its LF", ErrInvalid, good)
		}
		var r Record
		if err := decodeStrict(elem, &r); err != nil {
			return good, fmt.Errorf("%w: byte %d: %w", ErrInvalid, good, err)
		}
		if r.Digests == nil || r.Content == nil {
			return good, fmt.Errorf("%w: byte %d: record without digests or content", ErrInvalid, good)
		}
		if err := r.Check(); err != nil {
			return good, fmt.Errorf("byte %d: %w", good, err)
		}
		if err := fn(&r); err != nil {
			return good, fmt.Errorf("byte %d: %w", good, err)
		}
		good += 1 + end
	}
	return good, nil
}

// Log is a tpmfs log: a boot header (record 0) and the records after it.
type Log struct {
	Boot    *Content
	Records []Record // the header first
}

// ParseLog parses a tpmfs log as ParseSeq does and checks that it is
// one: record 0 a tpmfs boot header, then records numbered on from 1,
// each a tpmfs event or digest record. It returns what parsed before the
// first bad record, as ParseSeq does; a log without a header is
// ErrInvalid.
func ParseLog(data []byte) (*Log, int, error) {
	log := &Log{}
	good, err := scanSeq(data, func(r *Record) error {
		i := len(log.Records)
		if r.Recnum != uint64(i) {
			return fmt.Errorf("%w: record %d numbered %d", ErrInvalid, i, r.Recnum)
		}
		if r.ContentType != ContentType {
			return fmt.Errorf("%w: record %d: content_type %q, not %q", ErrInvalid, i, clip([]byte(r.ContentType)), ContentType)
		}
		c, err := ParseContent(r.Content)
		if err != nil {
			return err
		}
		if (i == 0) != (c.Type == TypeBoot) {
			return fmt.Errorf("%w: record %d: a %s record", ErrInvalid, i, c.Type)
		}
		if i == 0 {
			log.Boot = c
		}
		log.Records = append(log.Records, *r)
		return nil
	})
	if err == nil && log.Boot == nil {
		return log, 0, fmt.Errorf("%w: no boot header", ErrInvalid)
	}
	return log, good, err
}

// IsTruncated reports whether err says a sequence ends inside a record.
func IsTruncated(err error) bool { return errors.Is(err, ErrTruncated) }
