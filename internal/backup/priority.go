package backup

import (
	"runtime"
	"sync"
)

// Background work.
//
// A store backup derives keys (scrypt: about a second of one core and
// 256 MiB of memory per archive) and reads, encrypts, hashes and writes the
// whole store, while clients keep publishing; every durable publish waits
// for a store commit, and a commit needs CPU. The backup's work therefore
// runs on OS threads of its own at the lowest CPU and I/O priority the
// system offers (lowerThreadPriority), so that the kernel gives the broker
// the CPU first.
//
// A lowered thread priority alone does not do it in Go: a goroutine that
// computes holds one of the runtime's GOMAXPROCS processors whether or not
// the kernel runs its thread, so a backup goroutine would take a processor
// away from the broker's goroutines, which then wait in Go's run queue
// however low the backup thread's priority. Each background goroutine
// therefore adds one processor to GOMAXPROCS while it runs: the broker keeps
// as many processors as the machine has cores, and the kernel, which knows
// the priorities, shares the cores.

// goBackground runs fn on a goroutine locked to an OS thread of its own at
// background priority. The thread is never unlocked: it ends with the
// goroutine, and its lowered priority with it, so no other goroutine ever
// runs on it. Changing GOMAXPROCS stops the world for a moment, so it is
// done from ordinary threads: the caller's before, a fresh goroutine's
// after — never from the lowered thread, which the kernel may run late.
func goBackground(fn func()) {
	extra := lowersPriority
	if extra {
		addProc()
	}
	go func() {
		runtime.LockOSThread()
		if extra && !lowerThreadPriority() {
			extra = false
			go removeProc()
		}
		if extra {
			defer func() { go removeProc() }()
		}
		fn()
	}()
}

// inBackground runs fn with goBackground and returns its error.
func inBackground(fn func() error) error {
	errc := make(chan error, 1)
	goBackground(func() { errc <- fn() })
	return <-errc
}

// procs counts the background goroutines that added a processor, and
// remembers GOMAXPROCS from before the first.
var procs struct {
	sync.Mutex
	n    int
	base int
}

func addProc() {
	procs.Lock()
	defer procs.Unlock()
	if procs.n == 0 {
		procs.base = runtime.GOMAXPROCS(0)
	}
	procs.n++
	runtime.GOMAXPROCS(procs.base + procs.n)
}

func removeProc() {
	procs.Lock()
	defer procs.Unlock()
	procs.n--
	if procs.n > 0 {
		runtime.GOMAXPROCS(procs.base + procs.n)
		return
	}
	// Back to the runtime's default, which follows CPU and cgroup changes
	// again (any explicit setting turns that off) — unless the value
	// before was another one (the GOMAXPROCS variable, a setting in
	// code): then exactly that.
	runtime.SetDefaultGOMAXPROCS()
	if runtime.GOMAXPROCS(0) != procs.base {
		runtime.GOMAXPROCS(procs.base)
	}
}
