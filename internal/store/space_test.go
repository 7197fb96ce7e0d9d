package store

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// withFree returns options whose filesystem reports free's bytes free,
// with a reserve of 100 MiB.
func withFree(free *atomic.Uint64) Options {
	return Options{MinFreeBytes: 100 << 20, FreeSpace: func() (uint64, bool) { return free.Load(), true }}
}

// setFree changes the reported free space and waits until the store
// would have read it again.
func setFree(free *atomic.Uint64, n uint64) {
	free.Store(n)
	time.Sleep(spaceCheckInterval + 20*time.Millisecond)
}

// TestLowSpaceRefusesNewMessages: below the reserve, batches adding a
// message or retained record fail with ErrDiskFull and consume no LSN,
// while other batches (session state, deletions) commit; below half the
// reserve every batch fails; once space is back, everything commits.
func TestLowSpaceRefusesNewMessages(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	s := openTestStore(t, withFree(&free))
	commitPut(t, s, string(MessageKey(1)), "first")

	commit := func(key []byte, del bool) (uint64, error) {
		b := s.NewBatch()
		if del {
			b.Delete(key)
		} else {
			b.Put(key, []byte("v"))
		}
		return s.Commit(b)
	}
	setFree(&free, 80<<20)
	last := s.LastLSN()
	for _, key := range [][]byte{MessageKey(2), RetainedKey("a/b")} {
		if _, err := commit(key, false); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("low space: put %s: %v, want ErrDiskFull", KeyKind(key), err)
		}
	}
	if st := s.Stats(); !st.SpaceLow || st.FreeBytes != 80<<20 || st.ReserveBytes != 100<<20 {
		t.Fatalf("stats below the reserve: low %v, free %d, reserve %d", st.SpaceLow, st.FreeBytes, st.ReserveBytes)
	}
	if s.LastLSN() != last {
		t.Fatalf("refused batches consumed LSNs: %d -> %d", last, s.LastLSN())
	}
	if lsn, err := commit(ClientStateKey("c1"), false); err != nil || lsn != last+1 {
		t.Fatalf("low space: session state: lsn %d, %v; want %d", lsn, err, last+1)
	}
	if _, err := commit(MessageKey(1), true); err != nil {
		t.Fatalf("low space: delete: %v", err)
	}

	setFree(&free, 40<<20)
	if _, err := commit(ClientStateKey("c2"), false); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("critical space: session state: %v, want ErrDiskFull", err)
	}

	setFree(&free, 1<<30)
	if s.SpaceLow() {
		// SpaceLow reports the last check, made by the next commit.
		commitPut(t, s, string(ClientStateKey("c3")), "v")
	}
	commitPut(t, s, string(MessageKey(3)), "back")
	if s.SpaceLow() {
		t.Fatal("SpaceLow is still true with space back")
	}
	if _, err := s.Get(MessageKey(2)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused message was written: %v", err)
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
