package fs

import "github.com/hanwen/go-fuse/v2/fuse"

// readAt answers a read of len(dest) bytes at off from b, a file's whole
// content: past the end it is an empty read (end of file).
func readAt(b, dest []byte, off int64) fuse.ReadResult {
	if off < 0 || off >= int64(len(b)) {
		return fuse.ReadResultData(nil)
	}
	return fuse.ReadResultData(b[off:min(int64(len(b)), off+int64(len(dest)))])
}

// writeAt places data at off in buf, growing it with zeros as a file
// grows over a hole. Callers check off and the size limit first.
func writeAt(buf, data []byte, off int64) []byte {
	if end := off + int64(len(data)); int64(len(buf)) < end {
		buf = append(buf, make([]byte, end-int64(len(buf)))...)
	}
	copy(buf[off:], data)
	return buf
}
