// Package e2e holds process-level tests: they build the real mqsight
// binary, start it on a temporary data directory with loopback ports,
// drive it with real clients, kill it with SIGKILL, restart it, and check
// what survived. The package has no non-test code besides this comment.
package e2e
