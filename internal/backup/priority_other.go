//go:build !linux

package backup

// lowerThreadPriority does nothing where thread priorities are not
// supported here, and reports so.
func lowerThreadPriority() bool { return false }
