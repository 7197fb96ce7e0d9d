package backup

import (
	"context"
	"fmt"
	"path/filepath"
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

// changingStore changes the configuration while each of the first n
// checkpoints is being taken, as an admin request racing the backup would.
type changingStore struct {
	st     *store.Store
	change func()
	n      int
}

func (c *changingStore) UID() string     { return c.st.UID() }
func (c *changingStore) LastLSN() uint64 { return c.st.LastLSN() }

func (c *changingStore) Checkpoint(dir string) (uint64, error) {
	lsn, err := c.st.Checkpoint(dir)
	if c.n > 0 {
		c.n--
		c.change()
	}
	return lsn, err
}

// TestBackupRecordsGenerationAtCheckpoint: when the configuration changes
// while the checkpoint is taken, the checkpoint is retaken so that the
// configuration backup holds the generation in force at the checkpoint;
// when it never settles, the backup fails and leaves nothing.
func TestBackupRecordsGenerationAtCheckpoint(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	hubs := 0
	change := func() {
		hubs++
		src.update("MessageHub", fmt.Sprintf("Racing%d", hubs), map[string]any{})
	}
	deps := src.deps(testOpener(""))
	deps.Store = &changingStore{st: src.st, change: change, n: 2}
	storeDir := t.TempDir()
	res, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}, WorkFactor: testWF}, deps)
	if err != nil {
		t.Fatal(err)
	}
	cur := src.cfg.Current()
	if res.Manifest.ConfigGeneration != cur.Generation || res.Manifest.ObjectCounts["MessageHub"] != 2+hubs {
		t.Fatalf("manifest generation %d with %d hubs; configuration is at %d with %d hubs",
			res.Manifest.ConfigGeneration, res.Manifest.ObjectCounts["MessageHub"], cur.Generation, 2+hubs)
	}
	v, err := Verify(ctx, VerifyRequest{ConfigBackup: res.Path, Password: testPassword, StoreFile: filepath.Join(storeDir, "s.bak")})
	if err != nil {
		t.Fatal(err)
	}
	if v.Store.ConfigGeneration != res.Manifest.ConfigGeneration {
		t.Fatalf("store manifest generation %d, configuration manifest %d", v.Store.ConfigGeneration, res.Manifest.ConfigGeneration)
	}

	deps.Store = &changingStore{st: src.st, change: change, n: maxCheckpointTries}
	before := treeHash(t, src.userfiles())
	storeDir = t.TempDir()
	if _, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: time.Now().Add(time.Hour), Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}, WorkFactor: testWF}, deps); err == nil {
		t.Fatal("backup succeeded although the configuration changed during every checkpoint")
	}
	if treeHash(t, src.userfiles()) != before || treeHash(t, storeDir) != "d ." {
		t.Fatal("the failed backup left a file")
	}
	assertNoCheckpoint(t, src.dir)
}

// TestBackupRetakesCheckpointAfterClean: a store Clean racing the
// checkpoint changes the store UID; the checkpoint is retaken, so the
// manifests name the UID of the store the backup really holds.
func TestBackupRetakesCheckpointAfterClean(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	oldUID := src.st.UID()
	deps := src.deps(testOpener(""))
	deps.Store = &changingStore{st: src.st, n: 1, change: func() {
		if err := src.st.Clean(); err != nil {
			t.Error(err)
		}
	}}
	storeDir := t.TempDir()
	res, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}, WorkFactor: testWF}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if res.Store == nil || res.Manifest.StoreBackup.StoreUID == oldUID || res.Manifest.StoreBackup.StoreUID != src.st.UID() {
		t.Fatalf("backup names store %s; before the clean %s, now %s", res.Manifest.StoreBackup.StoreUID, oldUID, src.st.UID())
	}
	dst := newTestServer(t, "target", nil)
	out, err := dst.restorer(testOpener("")).Restore(ctx, RestoreRequest{ConfigBackup: res.Path, Password: testPassword, Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}, IncludeServerConfig: true}, dst.cfg.Current(), dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(messages(t, dst.st)) != 0 || out.StoreManifest.StoreUID != src.st.UID() {
		t.Fatal("restored store is not the cleaned one")
	}
}
