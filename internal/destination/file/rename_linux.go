package file

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace moves tmp to final unless final exists, atomically. It
// uses renameat2(RENAME_NOREPLACE) and, on filesystems that do not support
// it, link(2) then unlink(2), which fails with EEXIST just the same. An
// existing final yields an error matching fs.ErrExist.
func renameNoReplace(tmp, final string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
		return &os.LinkError{Op: "rename", Old: tmp, New: final, Err: err}
	}
	if err := os.Link(tmp, final); err != nil {
		return err
	}
	return os.Remove(tmp)
}
