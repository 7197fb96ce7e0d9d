package store

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// withFree returns options whose filesystem reports free's bytes free,
// with a reserve of 100 MiB.
func withFree(free *atomic.Uint64) Options {
	return Options{MinFreeBytes: 100 << 20, FreeSpace: func() (uint64, bool) { return free.Load(), true }}
}

// setFree changes the reported free space and waits until the store has
// read it.
func setFree(t *testing.T, s *Store, free *atomic.Uint64, n uint64) {
	t.Helper()
	free.Store(n)
	for deadline := time.Now().Add(5 * time.Second); s.Stats().FreeBytes != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the store did not read %d bytes free within 5 s", n)
		}
	}
}

// TestLowSpace: below the reserve SpaceLow reports it (writers then add
// no new message) while batches still commit; a group that would leave
// less than half the reserve is refused whole with ErrDiskFull, in queue
// order and without consuming LSNs; once space is back, everything commits.
func TestLowSpace(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	var hold atomic.Pointer[chan struct{}]
	opts := withFree(&free)
	opts.BeforeSync = func() error {
		if h := hold.Load(); h != nil {
			<-*h
		}
		return nil
	}
	s := openTestStore(t, opts)
	commitPut(t, s, string(MessageKey(1)), "first")
	if s.SpaceLow() {
		t.Fatal("SpaceLow with 1 GiB free")
	}

	setFree(t, s, &free, 80<<20)
	if !s.SpaceLow() {
		t.Fatal("SpaceLow is false below the reserve")
	}
	if st := s.Stats(); !st.SpaceLow || st.FreeBytes != 80<<20 || st.ReserveBytes != 100<<20 {
		t.Fatalf("stats below the reserve: low %v, free %d, reserve %d", st.SpaceLow, st.FreeBytes, st.ReserveBytes)
	}
	commitPut(t, s, string(ClientStateKey("c1")), "state") // what lets consumers drain
	commitPut(t, s, string(MessageKey(2)), "admitted before the writer saw SpaceLow")

	// 60 MiB free, 50 MiB must stay: an 11 MiB batch is refused, and so is
	// the small batch queued before it in the same group, in queue order.
	setFree(t, s, &free, 60<<20)
	last := s.LastLSN()
	var order []string
	var wg sync.WaitGroup
	held := make(chan struct{})
	hold.Store(&held) // the next batches queue up behind the first
	commitAsync := func(name string, key []byte, size int) {
		b := s.NewBatch()
		b.Put(key, make([]byte, size))
		wg.Add(1)
		s.CommitAsync(b, func(_ uint64, err error) {
			defer wg.Done()
			if !errors.Is(err, ErrDiskFull) {
				t.Errorf("%s: %v, want ErrDiskFull", name, err)
			}
			order = append(order, name)
		})
	}
	b := s.NewBatch()
	b.Put(ClientStateKey("c0"), []byte("v"))
	wg.Add(1)
	s.CommitAsync(b, func(uint64, error) { wg.Done() }) // takes the commit goroutine into BeforeSync
	time.Sleep(20 * time.Millisecond)
	commitAsync("small", ClientStateKey("c2"), 10)
	commitAsync("large", MessageKey(3), 11<<20)
	hold.Store(nil)
	close(held)
	wg.Wait()
	if len(order) != 2 || order[0] != "small" || order[1] != "large" {
		t.Fatalf("refused batches completed in order %v, want [small large]", order)
	}
	if s.LastLSN() != last+1 {
		t.Fatalf("LSN %d after one committed and two refused batches from %d", s.LastLSN(), last)
	}

	setFree(t, s, &free, 40<<20)
	if _, err := s.Commit(func() *Batch { b := s.NewBatch(); b.Delete(MessageKey(1)); return b }()); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("below half the reserve: delete: %v, want ErrDiskFull", err)
	}

	setFree(t, s, &free, 1<<30)
	commitPut(t, s, string(MessageKey(4)), "back")
	if s.SpaceLow() {
		t.Fatal("SpaceLow is still true with space back")
	}
	if _, err := s.Get(MessageKey(3)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused batch was written: %v", err)
	}
}

// TestOpenRefusesCriticalSpace: with less than half the reserve free, Open
// fails with ErrDiskFull before touching the directory (Pebble would wait
// without end for a flush that cannot succeed).
func TestOpenRefusesCriticalSpace(t *testing.T) {
	var free atomic.Uint64
	free.Store(10 << 20)
	dir := filepath.Join(t.TempDir(), "store")
	if s, err := Open(dir, withFree(&free)); !errors.Is(err, ErrDiskFull) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with 10 MiB free: %v, want ErrDiskFull", err)
	}
	free.Store(1 << 30)
	s, err := Open(dir, withFree(&free))
	if err != nil {
		t.Fatalf("Open with space: %v", err)
	}
	s.Close()
}

// TestDefaultReserve: the default reserve follows the memtable size, and
// a negative MinFreeBytes turns the check off.
func TestDefaultReserve(t *testing.T) {
	o := Options{}.withDefaults()
	if want := int64(2 * (16<<20 + 16<<20/10 + 16<<20 + 16<<20)); o.MinFreeBytes != want {
		t.Fatalf("default MinFreeBytes %d, want %d", o.MinFreeBytes, want)
	}
	var free atomic.Uint64 // 0 bytes free
	opts := withFree(&free)
	opts.MinFreeBytes = -1
	s := openTestStore(t, opts)
	commitPut(t, s, string(MessageKey(1)), "v")
}

// TestUnknownFreeSpaceRefusesNothing: where the free space cannot be read
// (another OS, a filesystem without block counts), the store refuses no
// commit and SpaceLow stays false.
func TestUnknownFreeSpaceRefusesNothing(t *testing.T) {
	s := openTestStore(t, Options{MinFreeBytes: 100 << 20, FreeSpace: func() (uint64, bool) { return 0, false }})
	commitPut(t, s, string(ClientStateKey("c1")), "v")
	commitPut(t, s, string(MessageKey(1)), "v")
	if s.SpaceLow() {
		t.Fatal("SpaceLow with the free space unknown")
	}
}
