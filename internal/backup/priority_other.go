//go:build !linux

package backup

// lowersPriority: thread priorities are not lowered here, so background
// goroutines add no processor either.
const lowersPriority = false

// lowerThreadPriority does nothing where thread priorities are not
// supported here, and reports so.
func lowerThreadPriority() bool { return false }
