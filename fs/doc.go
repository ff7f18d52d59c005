// Package fs presents a TPM as a tree of files over FUSE: info, random,
// pcrs/, seal/ and tpmrm0.
//
// It maps file operations to tpmcore calls and errors to errno (errno.go
// is the only place that does), and holds no TPM logic of its own: it
// never sees command bytes, handles or response codes except to log them.
package fs
