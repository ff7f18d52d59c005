package sealstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// idLen is the length of an object ID in hex digits (128 bits).
const idLen = 32

// NewID returns a fresh object identity. 128 random bits: two objects
// never get the same one, in this directory or any other.
func NewID() string {
	var b [idLen / 2]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b[:])
}

// legacyID is the identity of a version 1 record, which had none: it is
// derived from the name and the creation time, so it is the same at every
// mount, and an object removed and created again under the same name gets
// a new one. The next save writes it down.
func legacyID(name string, created time.Time) string {
	h := sha256.Sum256([]byte("tpmfs/v1-id\x00" + name + "\x00" + created.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:idLen/2])
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
