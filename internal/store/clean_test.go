package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCleanDeletesDataKeepsLSNAndChangesUID(t *testing.T) {
	s := openTestStore(t, Options{})
	for i := range 10 {
		commitPut(t, s, fmt.Sprint("k", i), "v")
	}
	uid := s.UID()
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	if s.UID() == uid || len(s.UID()) != 32 {
		t.Fatalf("UID after Clean %q, want a new one (was %s)", s.UID(), uid)
	}
	if got := userKeys(t, s); len(got) != 0 {
		t.Fatalf("Clean left %d keys", len(got))
	}
	if s.LastLSN() != 10 {
		t.Fatalf("LastLSN after Clean %d, want 10", s.LastLSN())
	}
	if lsn := commitPut(t, s, "new", "v"); lsn != 11 {
		t.Fatalf("first LSN after Clean %d, want 11", lsn)
	}
	if _, err := os.Stat(s.Dir() + deletingSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old store left behind: %v", err)
	}
	// Survives a restart with the new UID.
	newUID := s.UID()
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.UID() != newUID || s2.LastLSN() != 11 {
		t.Fatalf("after restart UID %s LSN %d, want %s 11", s2.UID(), s2.LastLSN(), newUID)
	}
	if got := userKeys(t, s2); len(got) != 1 || got["new"] != "v" {
		t.Fatalf("after restart %q", got)
	}
	if s2.Stats().Cleans != 0 {
		t.Fatal("Cleans counter should count this process's cleans only")
	}
}

// TestCleanDuringCommits: each commit racing with Clean either happened
// before it (and is gone) or after it (and is present, both keys): the
// present batches are exactly those above one LSN.
func TestCleanDuringCommits(t *testing.T) {
	s := openTestStore(t, Options{})
	var mu sync.Mutex
	batches := map[uint64]string{}
	stop := make(chan struct{})
	var progress atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("%d/%d", g, i)
				b := s.NewBatch()
				b.Put([]byte("a/"+key), nil)
				b.Put([]byte("b/"+key), nil)
				lsn, err := s.Commit(b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				batches[lsn] = key
				mu.Unlock()
				progress.Add(1)
			}
		}()
	}
	waitFor(t, "commits before Clean", func() bool { return progress.Load() >= 100 })
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	after := progress.Load()
	waitFor(t, "commits after Clean", func() bool { return progress.Load() >= after+100 })
	close(stop)
	wg.Wait()

	got := userKeys(t, s)
	lsns := make([]uint64, 0, len(batches))
	for l := range batches {
		lsns = append(lsns, l)
	}
	sort.Slice(lsns, func(i, j int) bool { return lsns[i] < lsns[j] })
	if lsns[len(lsns)-1] != uint64(len(lsns)) {
		t.Fatalf("LSNs not gap-free across Clean: %d batches, highest %d", len(lsns), lsns[len(lsns)-1])
	}
	present, absent := 0, 0
	for _, l := range lsns {
		key := batches[l]
		_, a := got["a/"+key]
		_, b := got["b/"+key]
		switch {
		case a != b:
			t.Fatalf("batch %s (LSN %d) half applied", key, l)
		case a:
			present++
		case present > 0:
			t.Fatalf("batch %s (LSN %d) missing although an earlier batch was kept", key, l)
		default:
			absent++
		}
	}
	if present == 0 || absent == 0 || len(got) != 2*present {
		t.Fatalf("%d batches before Clean, %d after, %d keys: want both sides and nothing else", absent, present, len(got))
	}
}

// TestOpenFinishesInterruptedClean simulates crashes inside Clean.
func TestOpenFinishesInterruptedClean(t *testing.T) {
	t.Run("after rename", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		uid := s.UID()
		for i := range 3 {
			commitPut(t, s, fmt.Sprint("k", i), "v")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// The crash came after the rename, with a half-created new store.
		if err := os.Rename(dir, dir+deletingSuffix); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.UID() == uid || s.LastLSN() != 3 || len(userKeys(t, s)) != 0 {
			t.Fatalf("UID %s (old %s) LSN %d keys %d: want new UID, LSN 3, empty", s.UID(), uid, s.LastLSN(), len(userKeys(t, s)))
		}
		if _, err := os.Stat(dir + deletingSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("old store left behind: %v", err)
		}
	})
	t.Run("during removal of the old store", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		commitPut(t, s, "kept", "v")
		uid := s.UID()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// A partly removed old store next to a complete new one.
		if err := os.MkdirAll(filepath.Join(dir+deletingSuffix, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.UID() != uid || s.LastLSN() != 1 {
			t.Fatalf("complete store changed: UID %s LSN %d", s.UID(), s.LastLSN())
		}
		if _, err := os.Stat(dir + deletingSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("old store left behind: %v", err)
		}
	})
}
