package backup

import "golang.org/x/sys/unix"

// lowersPriority: lowerThreadPriority works here.
const lowersPriority = true

// lowerThreadPriority sets the calling thread to nice 19 and to the idle
// I/O scheduling class (ioprio_set; honoured by the BFQ and CFQ
// schedulers, ignored by others). It reports whether the CPU priority was
// lowered; the I/O class is best effort.
func lowerThreadPriority() bool {
	tid := unix.Gettid()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 19); err != nil {
		return false
	}
	const (
		ioprioWhoProcess = 1
		ioprioClassIdle  = 3
		ioprioClassShift = 13
	)
	_, _, _ = unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioClassIdle<<ioprioClassShift)
	return true
}
