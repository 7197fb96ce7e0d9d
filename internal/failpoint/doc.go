// Package failpoint names the points where mqsight can be made to fail on
// purpose, so that tests can prove what happens when a process dies or an
// I/O step errors at a durability boundary.
//
// A Set is built once by the server from the MQSIGHT_FAILPOINTS environment
// variable and handed to the components that own failpoints; there is no
// package-level registry. Without the build tag `failpoints` a Set is an empty
// struct and Eval is an inlined `return nil`, so production binaries carry no
// cost and no way to trigger a failpoint.
//
// MQSIGHT_FAILPOINTS is a `;`-separated list of `name=action` where action is
//
//	error      Eval returns an error wrapping ErrInjected
//	panic      Eval panics
//	kill       the process sends itself SIGKILL (as `kill -9` would)
//	sleep(N)   Eval sleeps N milliseconds, then returns nil
//
// and may be prefixed by `N*` to trigger only on the first N evaluations, or
// by `P%` to trigger with probability P (0-100) on each evaluation.
package failpoint
