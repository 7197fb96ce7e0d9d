package backup

import "golang.org/x/sys/unix"

// lowerThreadPriority sets the calling thread to nice 19 and to the idle
// I/O scheduling class (ioprio_set; honoured by the BFQ and CFQ
// schedulers, ignored by others). Best effort: errors are ignored.
func lowerThreadPriority() {
	tid := unix.Gettid()
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
	const (
		ioprioWhoProcess = 1
		ioprioClassIdle  = 3
		ioprioClassShift = 13
	)
	_, _, _ = unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioClassIdle<<ioprioClassShift)
}
