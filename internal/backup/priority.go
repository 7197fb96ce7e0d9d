package backup

import "runtime"

// inBackground runs fn on an OS thread of its own at the lowest CPU and I/O
// priority the system offers (see lowerThreadPriority), and returns its
// error. An online store backup reads, hashes, encrypts and writes a whole
// store while clients keep publishing; at background priority it takes
// only the CPU and disk time that the broker leaves, so publishing slows
// less and the backup stretches instead. The thread is never unlocked:
// it ends with the goroutine, and its lowered priority with it, so no
// other goroutine ever runs on it.
func inBackground(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		lowerThreadPriority()
		errc <- fn()
	}()
	return <-errc
}
