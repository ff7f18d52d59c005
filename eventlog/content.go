package eventlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// ContentType is the content_type of tpmfs's records.
const ContentType = "tpmfs"

// Types of tpmfs content.
const (
	// TypeBoot heads a log: which TPM boot it belongs to. It extends
	// nothing (its digests are empty).
	TypeBoot = "boot"
	// TypeEvent: event data written to pcrs/NN, measured into every
	// active bank (each digest is the bank's hash of the data).
	TypeEvent = "event"
	// TypeDigest: a digest written to pcrs/<bank>/NN, extended into that
	// bank alone.
	TypeDigest = "digest"
)

// MaxData is the most event data a record holds; a larger event is
// recorded by its size alone.
const MaxData = 4096

// Families a boot header names.
const (
	Family20 = "2.0"
	Family12 = "1.2"
)

// TickNonceSize is the size of a TPM 1.2's tick nonce.
const TickNonceSize = 20

// Content is the content of a tpmfs record. Which fields a type has:
//
//	boot:   time, family, and reset_count and restart_count (2.0,
//	        from TPM2_ReadClock) or tick_nonce (1.2, from TPM_GetTicks)
//	event:  time, uid, size, and data when size <= MaxData
//	digest: time, uid
type Content struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`

	Family       string  `json:"family,omitempty"`
	ResetCount   *uint32 `json:"reset_count,omitempty"`
	RestartCount *uint32 `json:"restart_count,omitempty"`
	TickNonce    Hex     `json:"tick_nonce,omitempty"`

	UID  *uint32 `json:"uid,omitempty"`
	Size *int64  `json:"size,omitempty"`
	Data Hex     `json:"data,omitempty"`
}

// ParseContent reads tpmfs content strictly: one JSON object, no unknown
// field, and exactly the fields its type has.
func ParseContent(raw []byte) (*Content, error) {
	var c Content
	if err := decodeStrict(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: content: %w", ErrInvalid, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: content: %w", ErrInvalid, err)
	}
	return &c, nil
}

func (c *Content) check() error {
	if c.Time.IsZero() {
		return fmt.Errorf("%s without time", c.Type)
	}
	boot := c.Family != "" || c.ResetCount != nil || c.RestartCount != nil || c.TickNonce != nil
	who := c.UID != nil
	switch c.Type {
	case TypeBoot:
		if who || c.Size != nil || c.Data != nil {
			return fmt.Errorf("boot with uid, size or data")
		}
		switch c.Family {
		case Family20:
			if c.ResetCount == nil || c.RestartCount == nil || c.TickNonce != nil {
				return fmt.Errorf("2.0 boot needs reset_count and restart_count, and no tick_nonce")
			}
		case Family12:
			if len(c.TickNonce) != TickNonceSize || c.ResetCount != nil || c.RestartCount != nil {
				return fmt.Errorf("1.2 boot needs a %d-byte tick_nonce, and no counts", TickNonceSize)
			}
		default:
			return fmt.Errorf("boot of family %q", clip([]byte(c.Family)))
		}
	case TypeEvent:
		if boot || !who || c.Size == nil {
			return fmt.Errorf("event needs uid and size, and no boot fields")
		}
		switch {
		case *c.Size < 0:
			return fmt.Errorf("event of size %d", *c.Size)
		case *c.Size <= MaxData && int64(len(c.Data)) != *c.Size:
			return fmt.Errorf("event of size %d with %d bytes of data", *c.Size, len(c.Data))
		case *c.Size > MaxData && c.Data != nil:
			return fmt.Errorf("event of size %d with data (at most %d kept)", *c.Size, MaxData)
		}
	case TypeDigest:
		if boot || !who || c.Size != nil || c.Data != nil {
			return fmt.Errorf("digest needs uid, and no boot fields, size or data")
		}
	default:
		return fmt.Errorf("unknown type %q", clip([]byte(c.Type)))
	}
	return nil
}

// Marshal returns the content's JSON text.
func (c *Content) Marshal() (json.RawMessage, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: content: %w", ErrInvalid, err)
	}
	return json.Marshal(c)
}

// EventContent is the content of an event record for data written by uid
// at t.
func EventContent(uid uint32, t time.Time, data []byte) *Content {
	size := int64(len(data))
	c := &Content{Type: TypeEvent, Time: t.UTC(), UID: &uid, Size: &size}
	if size <= MaxData {
		c.Data = Hex(bytes.Clone(data))
		if c.Data == nil {
			c.Data = Hex{}
		}
	}
	return c
}

// decodeStrict decodes one JSON value with no unknown field and nothing
// after it.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}
