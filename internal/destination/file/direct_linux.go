//go:build linux

package file

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Direct I/O. An upload is written with O_DIRECT where the filesystem
// allows it: the backup's bytes go from the archive writer's buffers to the
// disk without being copied into the page cache. That saves the copy (the
// largest kernel cost of a buffered backup write), leaves no dirty pages
// whose writeback the store's fsyncs would queue behind, and does not evict
// the broker's cached store pages with a file nobody reads again. Direct
// writes need an aligned buffer, length and file offset; the archive writer
// hands over aligned 1 MiB blocks, and anything else (the last, partial
// block) switches the file to ordinary buffered writes for the rest.
const directAlign = 4096

// createTemp creates path exclusively, with O_DIRECT if the filesystem
// takes it (direct reports whether it did).
func createTemp(path string) (f *os.File, direct bool, err error) {
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_DIRECT, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	// The filesystem refuses O_DIRECT. The file was created before the
	// flag was checked (O_EXCL would have failed first on an existing
	// one): remove it and create it again without.
	os.Remove(path)
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	return f, false, err
}

// directOK reports whether p can be written with O_DIRECT at offset off.
func directOK(p []byte, off int64) bool {
	return len(p) > 0 && len(p)%directAlign == 0 && off%directAlign == 0 &&
		uintptr(unsafe.Pointer(&p[0]))%directAlign == 0
}

// clearDirect switches f to buffered writes.
func clearDirect(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		var fl int
		if fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0); ferr == nil {
			_, ferr = unix.FcntlInt(fd, unix.F_SETFL, fl&^unix.O_DIRECT)
		}
	}); err != nil {
		return err
	}
	return ferr
}
