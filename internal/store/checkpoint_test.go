package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCheckpointUnderLoad takes checkpoints while 8 goroutines commit; each
// checkpoint must open as a store holding exactly the batches with LSN <= the
// returned LSN, and equal to the source store at that LSN.
func TestCheckpointUnderLoad(t *testing.T) {
	const committers = 8
	// A small memtable makes Pebble flush during the test, so checkpoints
	// hold sstables as well as WAL.
	s := openTestStore(t, Options{MemTableSize: 256 << 10})
	commitPut(t, s, "before", "load")

	// batches maps LSN -> the batch's key, filled after each Commit returns.
	var mu sync.Mutex
	batches := map[uint64]string{}
	stop := make(chan struct{})
	var progress atomic.Int64
	var wg sync.WaitGroup
	for g := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("c/%d/%d", g, i)
				b := s.NewBatch()
				b.Put([]byte(key), []byte(key))
				b.Put([]byte("d/"+key), make([]byte, 512))
				if i > 0 { // churn: delete the previous batch's second key
					b.DeleteSized(fmt.Appendf(nil, "d/c/%d/%d", g, i-1), 512)
				}
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
	type taken struct {
		dir string
		lsn uint64
	}
	var cks []taken
	for n := range 3 {
		// Let the committers make progress between checkpoints.
		start := progress.Load()
		waitFor(t, "commits between checkpoints", func() bool { return progress.Load() >= start+300 })
		dir := filepath.Join(t.TempDir(), fmt.Sprint("ck", n))
		lsn, err := s.Checkpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		cks = append(cks, taken{dir, lsn})
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}

	for _, ck := range cks {
		uid, lsn, err := ReadMeta(ck.dir)
		if err != nil || uid != s.UID() || lsn != ck.lsn {
			t.Fatalf("ReadMeta(%s) = %s %d %v, want %s %d", ck.dir, uid, lsn, err, s.UID(), ck.lsn)
		}
		c, err := Open(ck.dir, Options{})
		if err != nil {
			t.Fatalf("open checkpoint: %v", err)
		}
		got := userKeys(t, c)
		if c.LastLSN() != ck.lsn || c.UID() != s.UID() {
			t.Fatalf("checkpoint opened with LSN %d UID %s, want %d %s", c.LastLSN(), c.UID(), ck.lsn, s.UID())
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// Expected contents: replay the batches with LSN <= ck.lsn.
		want := map[string]string{"before": "load"}
		for l := uint64(2); l <= ck.lsn; l++ {
			key, ok := batches[l]
			if !ok {
				t.Fatalf("checkpoint LSN %d covers LSN %d that no Commit returned", ck.lsn, l)
			}
			want[key] = key
			want["d/"+key] = string(make([]byte, 512))
			var g, i int
			fmt.Sscanf(key, "c/%d/%d", &g, &i)
			if i > 0 {
				delete(want, fmt.Sprintf("d/c/%d/%d", g, i-1))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("checkpoint at LSN %d has %d keys, want %d", ck.lsn, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("checkpoint at LSN %d: key %s = %q, want %q", ck.lsn, k, got[k], v)
			}
		}
		t.Logf("checkpoint at LSN %d of %d: %d keys", ck.lsn, s.LastLSN(), len(got))
	}
	s.mu.RLock()
	flushes := s.mu.db.Metrics().Flush.Count
	s.mu.RUnlock()
	t.Logf("%d memtable flushes during the test", flushes)
	if cks[0].lsn >= cks[2].lsn || s.Stats().Checkpoints != 3 {
		t.Fatalf("checkpoint LSNs %v did not advance under load", cks)
	}
}

func TestCheckpointRefusesExistingDir(t *testing.T) {
	s := openTestStore(t, Options{})
	dir := t.TempDir()
	if _, err := s.Checkpoint(dir); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Checkpoint into an existing directory: %v, want fs.ErrExist", err)
	}
}
