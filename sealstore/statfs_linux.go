package sealstore

import "golang.org/x/sys/unix"

func statFS(fd int) (fsInfo, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fsInfo{}, err
	}
	return fsInfo{
		readOnly: st.Flags&unix.ST_RDONLY != 0,
		free:     int64(st.Bavail) * st.Bsize,
		noInodes: st.Files > 0 && st.Ffree == 0,
	}, nil
}
