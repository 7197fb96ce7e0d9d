//go:build failpoints

package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/store"
)

// TestRestoreFailpoints: an error injected at RestoreBeforeSwap or
// RestoreAfterSwap rolls the restore back in-process: the old state is in
// place, nothing is left over, and the components run again.
func TestRestoreFailpoints(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	b, storeURL := src.backupWithStore(t)
	for _, fp := range []string{failpoint.RestoreBeforeSwap, failpoint.RestoreAfterSwap} {
		t.Run(fp, func(t *testing.T) {
			set, err := failpoint.Parse(fp + "=error")
			if err != nil {
				t.Fatal(err)
			}
			dst := newTestServer(t, "target", nil)
			putMessage(t, dst.st, 9, "old/marker", "old", false)
			gen, uid := dst.cfg.Current().Generation, dst.st.UID()
			r := NewRestorer(dst.dir, RestorerOptions{Open: testOpener(""), Failpoints: set})
			_, err = r.Restore(ctx, RestoreRequest{ConfigBackup: b.Path, Password: testPassword, Store: StoreParams{URL: storeURL}, IncludeServerConfig: true}, dst.cfg.Current(), dst)
			mustErr(t, err, failpoint.ErrInjected)
			if dst.stops != 1 || dst.starts != 1 {
				t.Fatalf("stops %d, starts %d", dst.stops, dst.starts)
			}
			if dst.cfg.Current().Generation != gen || dst.st.UID() != uid {
				t.Fatal("the old state is not in place")
			}
			if _, err := dst.st.Get(store.MessageKey(9)); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{stagingDirName, oldDirName, journalName} {
				if _, err := os.Stat(filepath.Join(dst.dir, n)); err == nil {
					t.Fatalf("%s left behind", n)
				}
			}
		})
	}
}

// TestBackupFailpoints: an error at BackupAfterCheckpoint or
// BackupBeforeCommit leaves no backup file anywhere and no checkpoint.
func TestBackupFailpoints(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	for _, fp := range []string{failpoint.BackupAfterCheckpoint, failpoint.BackupBeforeCommit} {
		t.Run(fp, func(t *testing.T) {
			set, err := failpoint.Parse(fp + "=error")
			if err != nil {
				t.Fatal(err)
			}
			storeDir := t.TempDir()
			deps := src.deps(testOpener(""))
			deps.Failpoints = set
			before := treeHash(t, src.userfiles())
			_, err = Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}, WorkFactor: testWF}, deps)
			mustErr(t, err, failpoint.ErrInjected)
			if treeHash(t, src.userfiles()) != before || treeHash(t, storeDir) != "d ." {
				t.Fatal("a failed backup left a file")
			}
			assertNoCheckpoint(t, src.dir)
		})
	}
}
