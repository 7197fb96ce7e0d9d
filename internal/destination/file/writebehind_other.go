//go:build !linux

package file

import "os"

// writeBehind is a no-op where sync_file_range does not exist.
type writeBehind struct{}

func (*writeBehind) wrote(*os.File, int64) {}

func (*writeBehind) startAt(int64) {}
