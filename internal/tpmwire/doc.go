// Package tpmwire knows the bytes every TPM command and response starts
// with, in TPM 2.0 and TPM 1.2 alike: a header of tag (2 bytes), size (4)
// and command or response code (4), big-endian. It reads and checks that
// header, reads big-endian fields after it, and renders a TPM's vendor
// bytes as text.
//
// It must not know what a command or a response code means: which
// family a tag belongs to, which codes ask for a retry, which commands
// carry handles are for the layers that use it (tddl, tpmcore and its
// subpackages).
package tpmwire
