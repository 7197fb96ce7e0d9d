//go:build !linux

package file

import "os"

// createTemp creates path exclusively; direct I/O is used on Linux only.
func createTemp(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	return f, false, err
}

func directOK([]byte, int64) bool { return false }

func clearDirect(*os.File) error { return nil }
