package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestPowerLossKeepsAcknowledgedBatches complements the kill -9 test, which
// cannot see a missing fsync (the page cache survives a process kill): the
// store runs on Pebble's crashable in-memory filesystem while 8 goroutines
// commit, and at several moments the test takes a crash clone, which keeps
// only synced data plus a random part of the rest. Every batch acknowledged
// before the clone must be in it, whole, with gap-free LSNs.
func TestPowerLossKeepsAcknowledgedBatches(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s, err := Open("store", Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var mu sync.Mutex
	var acked []string // keys of batches whose Commit returned, in return order
	var progress atomic.Int64
	const committers, perCommitter = 8, 300
	var wg sync.WaitGroup
	for g := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perCommitter {
				key := fmt.Sprintf("%d/%d", g, i)
				b := s.NewBatch()
				b.Put([]byte("t/"+key), []byte(key))
				b.Put([]byte("u/"+key), make([]byte, 200))
				if _, err := s.Commit(b); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
				progress.Add(1)
			}
		}()
	}
	defer wg.Wait() // also when a check fails: the committers stop by themselves
	rng := rand.New(rand.NewPCG(uint64(len(t.Name())), 7))
	// Crash at 8 random points of the run.
	points := make([]int64, 8)
	for i := range points {
		points[i] = 1 + rng.Int64N(committers*perCommitter)
	}
	slices.Sort(points)
	for clone, point := range points {
		waitFor(t, "commits before the crash", func() bool { return progress.Load() >= point })
		mu.Lock()
		before := append([]string(nil), acked...)
		mu.Unlock()
		crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rng})
		checkPowerLossClone(t, clone, crashed, s.UID(), before)
	}
}

func checkPowerLossClone(t *testing.T, clone int, crashed *vfs.MemFS, uid string, acked []string) {
	t.Helper()
	c, err := Open("store", Options{FS: crashed})
	if err != nil {
		t.Fatalf("clone %d: open after power loss: %v", clone, err)
	}
	defer c.Close()
	if c.UID() != uid {
		t.Fatalf("clone %d: UID %s, want %s", clone, c.UID(), uid)
	}
	got := userKeys(t, c)
	for _, key := range acked {
		if got["t/"+key] != key || len(got["u/"+key]) != 200 {
			t.Fatalf("clone %d: acknowledged batch %s lost in the power loss", clone, key)
		}
	}
	batches := 0
	for k := range got {
		if k[0] == 't' {
			batches++
			if _, ok := got["u/"+k[2:]]; !ok {
				t.Fatalf("clone %d: batch %s half applied", clone, k[2:])
			}
		}
	}
	if 2*batches != len(got) || uint64(batches) != c.LastLSN() {
		t.Fatalf("clone %d: %d batches, %d keys, LastLSN %d: not gap-free", clone, batches, len(got), c.LastLSN())
	}
	t.Logf("clone %d: %d acknowledged, %d present", clone, len(acked), batches)
}

// TestCleanIsDurable: a power loss right after Clean returns finds the new,
// empty store with its new UID and the continued LSN.
func TestCleanIsDurable(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s, err := Open("store", Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5 {
		commitPut(t, s, fmt.Sprint("k", i), "v")
	}
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	c, err := Open("store", Options{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.UID() != s.UID() || c.LastLSN() != 5 || len(userKeys(t, c)) != 0 {
		t.Fatalf("after power loss: UID %s LSN %d keys %d; want %s 5 0", c.UID(), c.LastLSN(), len(userKeys(t, c)), s.UID())
	}
}
