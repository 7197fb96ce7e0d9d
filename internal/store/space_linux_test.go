package store

import (
	"os"
	"testing"
)

// TestAvailableSpace: the data directory's filesystem reports space; a
// filesystem without block counts cannot tell.
func TestAvailableSpace(t *testing.T) {
	if n, ok := AvailableSpace(t.TempDir()); !ok || n == 0 {
		t.Fatalf("temporary directory: %d bytes, ok %v", n, ok)
	}
	if _, err := os.Stat("/proc/self"); err == nil {
		if n, ok := AvailableSpace("/proc"); ok {
			t.Fatalf("/proc reports %d bytes available; want cannot tell", n)
		}
	}
}
