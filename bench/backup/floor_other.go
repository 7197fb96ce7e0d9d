//go:build !linux

package main

import "os"

// createDirect creates path; direct I/O is used on Linux only.
func createDirect(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}
