//go:build unix

package backup

import "golang.org/x/sys/unix"

// availableSpace returns the bytes an unprivileged writer may still use on
// the filesystem of dir; ok is false when it cannot tell.
func availableSpace(dir string) (n uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
