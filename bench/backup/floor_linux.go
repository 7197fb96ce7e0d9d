package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// createDirect creates path for writes that bypass the page cache, as the
// store backup to file:// writes.
func createDirect(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_DIRECT, 0o600)
}
