package backup

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNice reads the nice value of the calling thread from /proc.
func threadNice(t *testing.T) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; nice is field 19.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var nice int
	fmt.Sscan(fields[19-3], &nice)
	return nice
}

// The store backup's work runs on a thread of its own at nice 19, and
// that thread does not outlive it.
func TestInBackgroundRunsNiced(t *testing.T) {
	before := threadNice(t)
	var inside int
	if err := inBackground(func() error { inside = threadNice(t); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside != 19 {
		t.Fatalf("background work ran at nice %d, want 19", inside)
	}
	if after := threadNice(t); after != before {
		t.Fatalf("the caller's thread changed from nice %d to %d", before, after)
	}
	if err := inBackground(func() error { return os.ErrClosed }); err != os.ErrClosed {
		t.Fatalf("error not passed through: %v", err)
	}
}

// Each background goroutine brings a processor of its own, so the broker's
// goroutines keep as many as before; the count is restored afterwards.
func TestBackgroundAddsAProcessor(t *testing.T) {
	waitNoBackground(t) // earlier tests' processors are given back asynchronously
	before := runtime.GOMAXPROCS(0)
	release := make(chan struct{})
	seen := make(chan int, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		goBackground(func() {
			defer wg.Done()
			seen <- runtime.GOMAXPROCS(0)
			<-release
		})
	}
	a, b := <-seen, <-seen
	if max(a, b) != before+2 || min(a, b) < before+1 {
		t.Fatalf("GOMAXPROCS inside two background goroutines: %d and %d, want up to %d", a, b, before+2)
	}
	close(release)
	wg.Wait()
	waitNoBackground(t) // removeProc runs after fn returned
	if after := runtime.GOMAXPROCS(0); after != before {
		t.Fatalf("GOMAXPROCS %d after the background work, %d before", after, before)
	}
}

// waitNoBackground waits until no background goroutine holds a processor.
func waitNoBackground(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		procs.Lock()
		n := procs.n
		procs.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d background processors still held", n)
		}
	}
}
