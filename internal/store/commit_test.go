package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestLSNsGapFreeUnderConcurrency: 8 committers; every Commit gets a distinct
// LSN, together they are exactly 1..N, the hook saw each batch in LSN order
// before its Commit returned, and commits were grouped.
func TestLSNsGapFreeUnderConcurrency(t *testing.T) {
	const committers, perCommitter = 8, 150
	s := openTestStore(t, Options{})

	var mu sync.Mutex
	var hookLSNs []uint64
	seen := map[uint64]bool{}
	s.SetCommitHook(func(e CommitEvent) {
		mu.Lock()
		defer mu.Unlock()
		hookLSNs = append(hookLSNs, e.LSN)
		seen[e.LSN] = true
	})

	lsns := make(chan uint64, committers*perCommitter)
	errs := make(chan error, committers)
	var wg sync.WaitGroup
	for g := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perCommitter {
				b := s.NewBatch()
				b.Put(fmt.Appendf(nil, "t/%d/%d", g, i), []byte("v"))
				lsn, err := s.Commit(b)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ok := seen[lsn]
				mu.Unlock()
				if !ok {
					errs <- fmt.Errorf("Commit returned LSN %d before the hook saw it", lsn)
					return
				}
				lsns <- lsn
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(lsns)
	for err := range errs {
		t.Fatal(err)
	}
	var got []uint64
	for l := range lsns {
		got = append(got, l)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	const n = committers * perCommitter
	if len(got) != n {
		t.Fatalf("%d LSNs, want %d", len(got), n)
	}
	for i, l := range got {
		if l != uint64(i+1) {
			t.Fatalf("LSNs are not exactly 1..%d: position %d holds %d", n, i, l)
		}
	}
	for i, l := range hookLSNs {
		if l != uint64(i+1) {
			t.Fatalf("hook saw LSN %d at position %d: not in LSN order", l, i)
		}
	}
	if s.LastLSN() != n {
		t.Fatalf("LastLSN %d, want %d", s.LastLSN(), n)
	}
	st := s.Stats()
	if st.LatencySum <= 0 || st.LatencyMax <= 0 || st.LatencyMax > st.LatencySum || st.LastLSN != n {
		t.Fatalf("latency/LSN stats %+v", st)
	}
	if st.Commits != n || st.Groups >= st.Commits {
		t.Fatalf("stats %+v: want %d commits in fewer groups", st, n)
	}
	t.Logf("%d commits in %d groups (max %d per group)", st.Commits, st.Groups, st.MaxGroup)
}

// TestGroupCommitGathersQueuedBatches holds the first group in BeforeSync
// until 7 more batches have queued, and checks that those 7 share one group.
func TestGroupCommitGathersQueuedBatches(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	s := openTestStore(t, Options{BeforeSync: func() error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	}})
	var wg sync.WaitGroup
	commit := func(key string) {
		defer wg.Done()
		b := s.NewBatch()
		b.Put([]byte(key), nil)
		if _, err := s.Commit(b); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go commit("first")
	<-entered
	for i := range 7 {
		wg.Add(1)
		go commit(fmt.Sprint("next", i))
	}
	waitFor(t, "7 queued batches", func() bool {
		s.queue.mu.Lock()
		defer s.queue.mu.Unlock()
		return len(s.queue.mu.pending) == 7
	})
	close(release)
	wg.Wait()
	st := s.Stats()
	if st.Commits != 8 || st.Groups != 2 || st.MaxGroup != 7 {
		t.Fatalf("stats %+v: want 8 commits in 2 groups, the largest of 7", st)
	}
	if st.GroupSizes[0] != 1 || st.GroupSizes[2] != 1 {
		t.Fatalf("group size histogram %v: want one group of 1 and one of 4-7", st.GroupSizes)
	}
}

// waitFor polls cond (a condition on state the test cannot subscribe to)
// until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBeforeSyncErrorFailsGroupWithoutConsumingLSN(t *testing.T) {
	injected := errors.New("injected")
	var fail sync.Mutex // held = fail the next group
	failing := false
	s := openTestStore(t, Options{BeforeSync: func() error {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return injected
		}
		return nil
	}})
	commitPut(t, s, "a", "1")
	fail.Lock()
	failing = true
	fail.Unlock()
	b := s.NewBatch()
	b.Put([]byte("b"), []byte("2"))
	if _, err := s.Commit(b); !errors.Is(err, injected) {
		t.Fatalf("Commit with failing BeforeSync: %v", err)
	}
	if _, err := s.Get([]byte("b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed batch was applied: %v", err)
	}
	fail.Lock()
	failing = false
	fail.Unlock()
	if lsn := commitPut(t, s, "c", "3"); lsn != 2 {
		t.Fatalf("LSN after a failed group = %d, want 2", lsn)
	}
	if st := s.Stats(); st.Failed != 1 {
		t.Fatalf("Failed = %d, want 1", st.Failed)
	}
}

// TestHookReprsReproduceStore applies every event the hook saw, in order,
// to an empty Pebble database (emptying it at the Clean between two rounds
// of concurrent commits) and compares it with the store.
func TestHookReprsReproduceStore(t *testing.T) {
	s := openTestStore(t, Options{})
	var mu sync.Mutex
	var events []CommitEvent
	s.SetCommitHook(func(e CommitEvent) {
		mu.Lock()
		e.Repr = bytes.Clone(e.Repr)
		events = append(events, e)
		mu.Unlock()
	})
	round := func(prefix string) {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := fmt.Sprint(prefix, g)
				for i := range 60 {
					b := s.NewBatch()
					b.Put(QueueEntryKey(q, uint64(i)), fmt.Appendf(nil, "v%d", i))
					b.Put(RetainedKey(fmt.Sprint(prefix, "topic", i%5)), fmt.Appendf(nil, "g%d", g))
					switch {
					case i%7 == 3:
						b.DeleteSized(QueueEntryKey(q, uint64(i-1)), 2)
					case i%11 == 10:
						b.DeleteRange(QueueEntryKey(q, 0), QueueEntryKey(q, 4))
					case i%13 == 12:
						b.Delete(RetainedKey(prefix + "topic0"))
					}
					if _, err := s.Commit(b); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	round("before")
	uidBefore, lsnBefore := s.UID(), s.LastLSN()
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	round("after")
	s.SetCommitHook(nil)
	commitPut(t, s, "after-hook-removed", "x")

	// The stream: batches 1..last in order with the UID they were
	// committed under, and one Clean event in its place.
	last := s.LastLSN() - 1
	if want := int(last) + 1; len(events) != want {
		t.Fatalf("hook saw %d events, want %d batches and one Clean", len(events), want)
	}
	lsn := uint64(0)
	for _, e := range events {
		switch {
		case e.Clean:
			if e.LSN != lsnBefore || e.UID != s.UID() || e.UID == uidBefore || e.Repr != nil {
				t.Fatalf("Clean event %+v, want LSN %d and the new UID %s", e, lsnBefore, s.UID())
			}
		case e.LSN != lsn+1:
			t.Fatalf("batch LSN %d after %d", e.LSN, lsn)
		case e.LSN <= lsnBefore && e.UID != uidBefore, e.LSN > lsnBefore && e.UID != s.UID():
			t.Fatalf("batch %d reported with UID %s (before Clean %s, after %s)", e.LSN, e.UID, uidBefore, s.UID())
		default:
			lsn = e.LSN
		}
	}

	replica, err := pebble.Open(filepath.Join(t.TempDir(), "replica"), Options{}.withDefaults().pebbleOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	for _, e := range events {
		if e.Clean {
			if err := replica.DeleteRange([]byte{0}, []byte{0xff, 0xff}, pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b := replica.NewBatch()
		if err := b.SetRepr(e.Repr); err != nil {
			t.Fatalf("repr of LSN %d: %v", e.LSN, err)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	want := userKeys(t, s)
	delete(want, "after-hook-removed")
	got := map[string]string{}
	it, err := replica.NewIter(&pebble.IterOptions{LowerBound: KindPrefix(KindMeta + 1)})
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replica differs from store:\n got %d keys\nwant %d keys", len(got), len(want))
	}
	if _, lsn, err := readMeta(metaWithFormat{replica}); err != nil || lsn != last {
		t.Fatalf("replica LSN %d (%v), want %d", lsn, err, last)
	}
}

// metaWithFormat lets readMeta read a replica built from hook reprs, which
// carries the LSN record but not the format and UID records Open writes.
type metaWithFormat struct{ db *pebble.DB }

func (m metaWithFormat) Get(key []byte) ([]byte, io.Closer, error) {
	switch string(key) {
	case metaFormatKey:
		return []byte{formatVersion}, io.NopCloser(nil), nil
	case metaUIDKey:
		return []byte("replica"), io.NopCloser(nil), nil
	}
	return m.db.Get(key)
}
