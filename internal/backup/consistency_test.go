package backup

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/store"
)

// TestBackupConsistentWhileCommitting takes a store backup while 8
// goroutines keep committing, restores it, and checks that the restored
// store holds exactly the batches with LSN <= the manifest's LSN: every
// one of them, and none after.
func TestBackupConsistentWhileCommitting(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	const writers, maxPerWriter = 8, 3000
	type commit struct {
		id  uint64
		lsn uint64
	}
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		started = make(chan struct{}, writers)
		results = make([][]commit, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(20 * time.Second)
			for i := range maxPerWriter {
				if stop.Load() || time.Now().After(deadline) {
					return
				}
				id := uint64(1_000_000*(w+1) + i)
				b := src.st.NewBatch()
				m := store.Message{ID: id, Topic: fmt.Sprintf("load/%d", w), Payload: []byte("payload"), QoS: 1}
				b.Put(store.MessageKey(id), m.Encode())
				lsn, err := src.st.Commit(b)
				if err != nil {
					t.Error(err)
					return
				}
				results[w] = append(results[w], commit{id, lsn})
				if i == 10 {
					started <- struct{}{}
				}
			}
		}()
	}
	for range writers {
		<-started
	}
	storeURL := "file://" + t.TempDir() + "/s.bak"
	res, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Store: StoreParams{URL: storeURL}, WorkFactor: testWF}, src.deps(testOpener("")))
	if err == nil {
		// Let the load go on past the checkpoint (bounded: the writers
		// stop on their own after maxPerWriter commits or 20 s).
		for deadline := time.Now().Add(10 * time.Second); src.st.LastLSN() <= res.Store.LSN+writers && time.Now().Before(deadline); {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	lsn := res.Store.LSN
	dst := newTestServer(t, "target", nil)
	if _, err := dst.restorer(testOpener("")).Restore(ctx, RestoreRequest{
		ConfigBackup: res.Path, Password: testPassword, Store: StoreParams{URL: storeURL}, IncludeServerConfig: true,
	}, dst.cfg.Current(), dst); err != nil {
		t.Fatal(err)
	}
	got := messages(t, dst.st)
	before, after := 0, 0
	for _, rs := range results {
		for _, c := range rs {
			_, ok := got[c.id]
			switch {
			case c.lsn <= lsn && !ok:
				t.Fatalf("message %d committed at LSN %d <= backup LSN %d is missing", c.id, c.lsn, lsn)
			case c.lsn > lsn && ok:
				t.Fatalf("message %d committed at LSN %d > backup LSN %d was restored", c.id, c.lsn, lsn)
			case ok:
				before++
			default:
				after++
			}
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("%d commits before and %d after the checkpoint: the backup did not overlap the load", before, after)
	}
	t.Logf("backup at LSN %d: %d commits included, %d after", lsn, before, after)
}
