package backup

import (
	"fmt"
	"os"
	"strings"
	"testing"

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
