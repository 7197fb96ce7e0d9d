package store

import "golang.org/x/sys/unix"

// AvailableSpace returns the bytes an unprivileged writer may still use on
// the filesystem of dir; ok is false when it cannot tell. Block counts are
// in fragment-size units (as statvfs and df use them); a filesystem that
// reports no blocks at all (some FUSE mounts) cannot tell.
func AvailableSpace(dir string) (n uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Blocks == 0 {
		return 0, false
	}
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return st.Bavail * unit, true
}
