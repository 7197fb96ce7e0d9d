//go:build !linux

package store

// AvailableSpace cannot tell here; the store and the restore then do not
// check.
func AvailableSpace(string) (uint64, bool) { return 0, false }
